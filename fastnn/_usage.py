"""The command line's error for a user's mistake, in a module of its own so that every subcommand module can raise
it without importing fastnn.cli (which imports them)."""


class UsageError(Exception):
    """A mistake in the options or data paths of a subcommand: ``fastnn.cli.main`` reports it with that
    subcommand's usage and exit status 2."""
