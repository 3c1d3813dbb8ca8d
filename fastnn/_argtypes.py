"""argparse option types shared by the command-line modules (``fastnn.cli``, ``fastnn.sweep_cli``): a bad value is
argparse's one-line ``argument --x: ...`` error, exit status 2."""
import argparse


def whole_number(minimum, maximum=None):
    """An argparse type: an int in [minimum, maximum] (no upper bound when maximum is None)."""
    def convert(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number; got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
            raise argparse.ArgumentTypeError(f"must be {bounds}; got {value}")
        return value
    return convert
