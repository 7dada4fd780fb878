"""The library's own errors. The CLI turns each into one line on stderr and an exit code."""


class MnetcostError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(MnetcostError):
    """A bad option value: alpha, rho, resolution, classes, an unknown name (exit code 2)."""

    exit_code = 2


class UnknownModel(UsageError):
    """No shipped table by that name and no CSV file at that path."""


class UnknownConvention(UsageError):
    """No counting convention by that name."""


class TableError(MnetcostError):
    """A malformed architecture table (exit code 1)."""


class UnknownOp(MnetcostError):
    """A primitive layer has no cost function: never counted as zero."""
