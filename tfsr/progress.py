"""Progress bars that suit both a terminal and a log file.

On a terminal: tqdm. Otherwise (``nohup … > run.log``, CI): one plain
line every ``log_interval`` seconds and at the end, no carriage-return
redraws, so a long run writes kilobytes of log, not megabytes.
"""
import sys

from tqdm import tqdm

LOG_INTERVAL = 30.0  # seconds between lines when the output is not a terminal
_LOG_FORMAT = "{n_fmt}/{total_fmt} ({percentage:.0f}%) [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
_LOG_FORMAT_UNKNOWN_TOTAL = "{n_fmt} [{elapsed}, {rate_fmt}{postfix}]"


class _Lines:
    """A stream that passes whole lines and drops tqdm's bare line ends and carriage returns."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        if text.strip("\r\n"):
            self.stream.write(text)

    def flush(self):
        self.stream.flush()


class LogProgress(tqdm):
    """tqdm writing one newline-terminated line per ``mininterval`` seconds."""

    monitor_interval = 0  # tqdm's monitor thread would force a line every 10 s (its maxinterval)

    def __init__(self, *args, **kwargs):
        kwargs["file"] = _Lines(kwargs.get("file") or sys.stderr)
        kwargs.setdefault("mininterval", LOG_INTERVAL)
        kwargs.setdefault("bar_format", _LOG_FORMAT if kwargs.get("total") else _LOG_FORMAT_UNKNOWN_TOTAL)
        super().__init__(*args, **kwargs)

    def display(self, msg=None, pos=None):
        if msg is None and self.n == getattr(self, "_printed", 0):  # nothing new since the last line
            return True
        self._printed = self.n
        if self.total and "{total_fmt}" not in self.bar_format:
            self.bar_format = _LOG_FORMAT  # the total became known
        line = (msg or self.__str__()).strip()
        desc = self.desc.removesuffix(": ")  # tqdm's set_description() adds one
        self.fp.write((f"{desc}: " if desc and msg is None else "") + line + "\n")
        self.fp.flush()
        return True

    def clear(self, nolock=False):  # nothing to erase in a log
        pass


def progress_bar(iterable=None, **kwargs):
    """``tqdm(iterable, **kwargs)`` on a terminal, `LogProgress` otherwise."""
    stream = kwargs.get("file") or sys.stderr
    interactive = hasattr(stream, "isatty") and stream.isatty()
    return (tqdm if interactive else LogProgress)(iterable, **kwargs)


write = tqdm.write
"""Print a line without breaking the bar (``tqdm.write``)."""
