"""Helpers for the tests of hostile files (issue #25): a FIFO that never hangs the test, and peak memory."""
import contextlib
import os
import threading
import tracemalloc


@contextlib.contextmanager
def fed_fifo(path, data):
    """A FIFO at ``path`` whose writer thread writes ``data`` to every reader that opens it (a loader that opens
    it, even twice, reads ``data`` instead of blocking the test forever), stopped and released at the end.
    ``data`` must fit a pipe's buffer (64 KiB), as nobody may read it."""
    os.mkfifo(path)
    stop = threading.Event()

    def feed():
        while not stop.is_set():
            with contextlib.suppress(BrokenPipeError), open(path, "wb") as f:  # waits for a reader
                f.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        yield path
    finally:
        stop.set()
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a reader: a writer waiting in open goes on, and stops
        writer.join()
        os.close(fd)


def peak_memory(call):
    """(the peak of the memory traced while ``call()`` runs, NumPy's array memory included; what it raised, or
    None)."""
    tracemalloc.start()
    try:
        call()
        error = None
    except Exception as exc:  # noqa: BLE001 (returned to the test)
        error = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, error
