"""One exit-status contract for every subcommand, and the errors that map onto it.

Validators anywhere in difftest raise ``UsageError`` (or a subclass) with a
one-line message naming the problem; the command line catches it once, in
``difftest.frontends.cli.main``, and exits 2. An exception raised by a user's
plugin is wrapped in ``PluginError`` and exits 3 with the plugin's own frames.
"""

from __future__ import annotations

import traceback
from types import TracebackType

EXIT_CLEAN = 0  # the search finished and found no bug
EXIT_FINDING = 1  # a bug finding (a reproducer was written)
EXIT_USAGE = 2  # bad arguments or bad input: one line, nothing run
EXIT_INTERNAL = 3  # difftest or a user's plugin raised, or libFuzzer failed to start
EXIT_INCOMPLETE = 4  # a search ran out of time or budget before it could say clean
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM (after writing what was found)

EPILOG = (
    "exit status: 0 clean; 1 bug finding; 2 usage or input error (one line, nothing run); "
    "3 internal error (difftest, a plugin, or libFuzzer failing to start); "
    "4 incomplete (time or budget ran out before a clean verdict); 130 interrupted"
)

# Caps on what a command line or an input file may ask for. Each error names its cap.
MAX_VCPUS = 64  # KVM allows 4,096 (KVM_MAX_VCPUS); the model is exponential long before
MAX_THREADS = 128  # vCPUs + ioctl threads in one scenario
MAX_OPS = 1_000  # operations per thread
MAX_SCHEDULE = 1_000_000  # steps in a reproducer's schedule
MAX_FILE_BYTES = 4 * 1024 * 1024  # a reproducer or a raw fuzzer input (3 bytes a step)
MAX_DEPTH = 32  # JSON nesting depth of a reproducer (its own schema needs 5)
MAX_RUNS = 10**12
MAX_SECONDS = 10**7  # about four months
MAX_WIDTH = 1_000
MIN_WIDTH = 60  # the narrowest table difftest.report.wrap lays out without cutting a name


class UsageError(ValueError):
    """Bad arguments or input: the message is one line and names the problem."""


class PluginError(Exception):
    """A user's plugin raised; ``plugin_traceback`` keeps only the plugin's frames."""

    def __init__(self, what: str, exc: BaseException, plugin_file: str | None = None) -> None:
        super().__init__(f"{what}: {type(exc).__name__}: {exc}")
        self.exc = exc
        self.plugin_file = plugin_file

    def plugin_traceback(self) -> str:
        return short_traceback(self.exc, self.plugin_file)


def _is_plugin_frame(filename: str, plugin_file: str | None) -> bool:
    if plugin_file is not None:
        return filename == plugin_file
    return "/difftest/" not in filename.replace("\\", "/") and "<frozen" not in filename


def short_traceback(exc: BaseException, plugin_file: str | None = None) -> str:
    """The frames of ``exc``'s traceback that belong to the plugin (all frames
    outside difftest when the file is unknown), then the exception line."""
    tb: TracebackType | None = exc.__traceback__
    frames = [
        f for f in traceback.extract_tb(tb) if _is_plugin_frame(f.filename, plugin_file)
    ] or traceback.extract_tb(tb)[-1:]
    lines = ["Traceback (plugin frames only):\n", *traceback.format_list(frames)]
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)
