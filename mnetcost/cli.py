"""The terminal front end: a thin typer layer over the library. Library errors become one line on
stderr and an exit code (2 for bad options, 1 for bad tables)."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Optional

import typer

from .errors import MnetcostError

app = typer.Typer(
    name="mnetcost",
    help="Analytical costs (mult-adds, parameters, activations) of the MobileNet family, layer by layer.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


class Spatial(str, Enum):
    exact = "exact"
    continuous = "continuous"


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a number") from None


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a whole number") from None


def _complete_models(incomplete: str):
    from .tables import model_names

    return [m for m in model_names() if m.startswith(incomplete)]


def _complete_conventions(incomplete: str):
    from .conventions import convention_names

    return [c for c in convention_names() if c.startswith(incomplete)]


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context):
    """Analytical costs of the MobileNet family. Example: mnetcost table v2 --alpha 0.75 --rho 0.714"""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


@app.command()
def table(
    model: str = typer.Argument(..., metavar="MODEL", help="A shipped table (v1, v2, v3-large, ...) or a path to a CSV table.",
                                autocompletion=_complete_models),
    alpha: float = typer.Option(1.0, "--alpha", "-a", parser=_float, metavar="FLOAT", help="Width multiplier alpha (> 0)."),
    rho: Optional[float] = typer.Option(None, "--rho", parser=_float, metavar="FLOAT", help="Resolution multiplier rho (input = rho x 224)."),
    resolution: Optional[int] = typer.Option(None, "--resolution", "-r", parser=_int, metavar="PX", help="Input resolution in pixels (instead of --rho)."),
    convention: str = typer.Option("paper", "--convention", "-c", metavar="NAME", help="Counting convention: paper, torchvision, keras, tf-slim.",
                                   autocompletion=_complete_conventions),
    classes: Optional[int] = typer.Option(None, "--classes", "-k", parser=_int, metavar="K", help="Classifier classes (default: the convention's)."),
    spatial: Spatial = typer.Option(Spatial.exact, "--spatial", help="exact: whole-pixel SAME sizes; continuous: rho x D_F as a real number."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table (rich), csv, json or markdown."),
):
    """Per-layer mult-adds and parameters of MODEL, with totals.

    Example: mnetcost table v2 --alpha 0.75 --rho 0.714
    """
    from . import render
    from .conventions import get_convention
    from .engine import cost

    result = cost(model, alpha=alpha, rho=rho, resolution=resolution, convention=convention,
                  classes=classes, spatial=spatial.value)
    if fmt is Format.table:
        from rich.console import Console

        note = get_convention(result.convention).rules(result.family).note
        Console().print(render.rich_table(result, note))
    else:
        writer = {Format.csv: render.to_csv, Format.json: render.to_json, Format.markdown: render.to_markdown}[fmt]
        sys.stdout.write(writer(result))


def _error(message: str) -> None:
    for line in str(message).splitlines() or [""]:
        sys.stderr.write(f"mnetcost: error: {line}\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning every error into one line on stderr and an exit code."""
    try:
        result = app(args=argv, prog_name="mnetcost", standalone_mode=False)
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
        return 0
    return result if isinstance(result, int) else 0
