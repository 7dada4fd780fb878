"""The library's own errors. The CLI turns each into one line on stderr and an exit code:

0 success; 1 a malformed table (TableError); 2 a bad option or argument (UsageError); 3 the environment
(a missing optional dependency, output that cannot be written); 4 ``verify`` found a layer that
differs; 70 an internal error (a bug: please report it)."""

from contextlib import contextmanager

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


@contextmanager
def memory_guard(what: str):
    """A real out-of-memory while building or running (Python's MemoryError, PyTorch's or ONNX Runtime's failed
    allocation) is the environment's problem (``EnvironmentProblem``, exit 3), never an internal error. Knows
    those libraries' exceptions by name and message, so that it imports neither."""
    try:
        yield
    except MemoryError:
        raise EnvironmentProblem(f"{what} ran out of memory on this machine; choose a smaller resolution or width") from None
    except Exception as e:  # torch: RuntimeError "can't allocate memory", OutOfMemoryError; onnxruntime: its own types
        text = str(e).lower()
        if type(e).__name__ == "OutOfMemoryError" or any(
                s in text for s in ("allocate memory", "out of memory", "failed to allocate", "bad_alloc", "bad allocation")):
            raise EnvironmentProblem(f"{what} ran out of memory on this machine ({str(e).splitlines()[0]:.120}); "
                                     "choose a smaller resolution or width") from None
        raise
