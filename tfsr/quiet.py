"""Keeping TensorFlow's and LiteRT's C++ log lines off the terminal.

On a CPU-only machine TensorFlow prints absl and CUDA-probe lines when it
is imported (``Could not find cuda drivers``, ``failed call to cuInit``)
and LiteRT announces its XNNPACK delegate; they read like failures and
say nothing. C++ writes them straight to file descriptor 2, so they are
hidden by pointing it at /dev/null for the moment they are printed.
Real errors still surface, as Python exceptions. ``TFSR_VERBOSE=1`` (or a
command's ``--verbose``) shows everything.
"""
import contextlib
import os
import sys

from tfsr.imports import on_import


def verbose():
    return os.environ.get("TFSR_VERBOSE", "") not in ("", "0")


@contextlib.contextmanager
def quiet_stderr():
    """File descriptor 2 goes to /dev/null meanwhile (unless verbose)."""
    if verbose():
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow():
    """Import TensorFlow quietly whenever it is first imported (command lines call this at start).

    Its log level becomes 3 (also hides the cuInit error when the CPU is
    first used), or 0 when verbose.
    """
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if verbose() else "3"
    on_import("tensorflow", around=quiet_stderr)
