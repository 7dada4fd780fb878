"""The terminal front end: typer commands that parse options, call the library with keywords and show
each result's view (``mnetcost.views``). Library errors become one line on stderr and an exit code."""

from . import commands, devices  # noqa: F401  (register the commands)
from .app import app, keep_examples_apart, main

keep_examples_apart()
__all__ = ["app", "main"]
