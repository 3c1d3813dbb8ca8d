"""What a terminal gives its foreground process, for tests that send Ctrl-C (SIGINT) to a child process."""
import signal


def restore_sigint():
    """``preexec_fn`` for subprocess.Popen: SIGINT's default disposition in the child, returns None. A shell starts
    background jobs (and so a backgrounded test run) with SIGINT ignored, and an ignored signal stays ignored across
    exec; a terminal's foreground process has the default, under which Python raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
