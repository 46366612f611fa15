"""Errors that reach the user as one line naming the fix (no traceback unless --verbose)."""


class GanError(Exception):
    """A user-facing error: bad input, missing data or weights, an impossible combination."""


class DivergenceError(GanError):
    """Training produced a non-finite loss or weight."""
