"""The errors a user can cause, each ending a script with one line that names the cause and
the fix. Free of heavy imports, so catching them costs nothing (``cli``, the workflow)."""


class ConfigError(ValueError):
    """A configuration value a user must fix; the message names the key."""


class DataError(RuntimeError):
    """Missing or unreadable data; the message says what to do."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message says why and what to do."""


class ResultError(ValueError):
    """A result file (a certification, its description) that is not what it says; the message
    names the file, the row and what disagrees."""


class DiskFullError(OSError):
    """A write that ran out of space (or quota); the message names the file. Nothing was left
    under a finished file's name."""
