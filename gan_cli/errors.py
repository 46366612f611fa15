"""Errors that reach the user as one line naming the fix (no traceback unless --verbose)."""


class GanError(Exception):
    """A user-facing error: bad input, missing data or weights, an impossible combination."""


class DivergenceError(GanError):
    """Training produced a non-finite loss or weight."""


class RunFailed(GanError):
    """A run that had started failed; its summary.json records the status and the reason."""

    def __init__(self, message: str, status: str = "failed"):
        super().__init__(message)
        self.status = status


class RunStopped(GanError):
    """A second Ctrl-C stopped a started run at once; its summary.json says how to continue."""
