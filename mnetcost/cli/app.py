"""The typer application, its output and its one error boundary: every error becomes one line on stderr
and the exit code of ``mnetcost.errors`` (never a traceback)."""

from __future__ import annotations

import sys
from enum import Enum

import typer

from ..errors import EXIT_INTERNAL, EnvironmentProblem, MnetcostError

app = typer.Typer(name="mnetcost", pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Analytical costs (mult-adds, parameters, activations) of the MobileNet family, layer by layer.")


def _version(value: bool):
    if value:
        from .. import __version__

        typer.echo(f"mnetcost {__version__}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context, version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                                            help="Print the version and exit.")):
    """Analytical costs of the MobileNet family. Example: mnetcost table v2 --alpha 0.75 --rho 0.714

    Exit codes: 0 success, 1 a malformed table, 2 a bad option or argument, 3 the environment (a missing
    optional dependency, output that cannot be written), 4 verify found a difference, 70 an internal error."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


def show(view, fmt) -> None:
    from ..terminal import show as write

    write(view, fmt.value if isinstance(fmt, Enum) else fmt)


def keep_examples_apart() -> None:
    """Each command's examples on lines of their own in --help (click would run them into one paragraph)."""
    import inspect

    from ..terminal import fold

    for info in app.registered_commands:
        paragraphs = inspect.cleandoc(info.callback.__doc__ or "").split("\n\n")
        examples = [line for p in paragraphs if p.lstrip().startswith("Example") for line in p.splitlines()]
        if examples:
            kept = [p for p in paragraphs if not p.lstrip().startswith("Example")]
            info.callback.__doc__ = "\n\n".join([*kept, "\n".join(["\b", *(fold(line) for line in examples)])])


def _error(message: str) -> None:
    """One line on stderr: a multi-line message (a table's problems, one a line) keeps one prefix per line."""
    from ..terminal import printable

    try:
        for line in str(message).splitlines() or [""]:
            sys.stderr.write(f"mnetcost: error: {printable(line)}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _run(argv) -> int:
    from ..terminal import ascii_fallback
    from .coerce import command

    if sys.stdout is None:
        raise EnvironmentProblem("standard output is closed: nothing can be written")
    ascii_fallback()
    result = command(app).main(args=argv, prog_name="mnetcost", standalone_mode=False)
    sys.stdout.flush()
    return result if isinstance(result, int) else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning every error into one line on stderr and an exit code."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's overflow warnings: every count is checked instead
        try:
            return _run(argv)
        except MnetcostError as e:
            _error(str(e))
            return e.exit_code
        except typer.Exit as e:
            return getattr(e, "exit_code", 0)
        except typer.Abort:
            _error("aborted")
            return 1
        except typer.TyperException as e:  # typer's usage errors: bad option value, unknown option, missing argument
            _error(e.format_message() if hasattr(e, "format_message") else str(e))
            return getattr(e, "exit_code", 2)
        except BrokenPipeError:
            from ..terminal import quiet_stdout

            quiet_stdout()
            return 0
        except OSError as e:  # a full disk, a closed or unwritable output
            _error(f"cannot write the output: {e.strerror or e}")
            return EnvironmentProblem.exit_code
        except (MemoryError, RecursionError) as e:
            _error(f"the input needs more memory or depth than this machine allows ({type(e).__name__}); "
                   "choose a smaller configuration")
            return 2
        except Exception as e:  # a bug: still one line, with what to report
            _error(f"internal error ({type(e).__name__}: {e}); please report it with the command that caused it")
            return EXIT_INTERNAL
