"""The library's own errors. The CLI turns each into one line on stderr and an exit code:

0 success; 1 a malformed table (TableError); 2 a bad option or argument (UsageError); 3 the environment
(a missing optional dependency, output that cannot be written); 4 ``verify`` found a layer that
differs; 70 an internal error (a bug: please report it)."""

EXIT_ENVIRONMENT = 3
EXIT_DIFFERENCE = 4
EXIT_INTERNAL = 70


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


class EnvironmentProblem(MnetcostError):
    """Something outside the input: a missing optional dependency, output that cannot be written (exit code 3)."""

    exit_code = EXIT_ENVIRONMENT
