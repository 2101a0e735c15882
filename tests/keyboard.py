"""Starting a command the way a terminal does, so that Ctrl-C (SIGINT) reaches it.

A shell starts a background job with SIGINT ignored, and Python keeps an ignored SIGINT instead
of raising KeyboardInterrupt; a test run from such a job (``make test &``) would otherwise see a
command that shrugs the signal off."""

import signal
import subprocess


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_at_a_terminal(argv, **options) -> subprocess.Popen:
    """``subprocess.Popen(argv, **options)`` with SIGINT at its default disposition."""
    return subprocess.Popen(argv, preexec_fn=_default_sigint, **options)
