"""The typer application, its output and its one error boundary: every error becomes one line on stderr
and the exit code of ``mnetcost.errors`` (never a traceback)."""

import sys

import typer

from .. import __version__
from ..errors import EnvironmentProblem
from .options import HELP, grouped

app = typer.Typer(name="mnetcost", pretty_exceptions_enable=False, rich_markup_mode=None, help=HELP["app"]["help"])


def _version(value: bool):
    if value:
        typer.echo(f"mnetcost {__version__}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context, version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                                            help=HELP["app"]["version"])):
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


def command(fn):
    """A command (its options grouped: ``options.grouped``), with its help from help.toml."""
    name = fn.__name__.rstrip("_")  # import_: a Python keyword
    return app.command(name, help=HELP["commands"][name])(grouped(fn))


def show(view, fmt) -> None:
    from ..terminal import show as write

    write(view, fmt.value)


def _run(argv) -> int:
    from ..terminal import ascii_fallback
    from .coerce import command as click_command

    if sys.stdout is None:
        raise EnvironmentProblem("standard output is closed: nothing can be written")
    ascii_fallback()
    argv = sys.argv[1:] if argv is None else argv
    result = click_command(app, argv).main(args=argv, prog_name="mnetcost", standalone_mode=False)
    sys.stdout.flush()
    return result if isinstance(result, int) else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning every error into one line on stderr and an exit code."""
    import warnings

    from ..terminal import ended
    from ..terminal import error as _error

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's overflow warnings: every count is checked instead
        try:
            return _run(argv)
        except typer.Exit as e:
            return getattr(e, "exit_code", 0)
        except typer.Abort:
            return _error("aborted", 1)
        except typer.TyperException as e:  # typer's usage errors: bad option value, unknown option, missing argument
            message = e.format_message() if hasattr(e, "format_message") else str(e)
            return _error(message, getattr(e, "exit_code", 2))
        except Exception as e:  # the library's errors, a closed pipe, a full disk, a bug: one line each
            return ended(e)
