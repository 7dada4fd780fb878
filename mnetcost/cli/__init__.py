"""The terminal front end: typer commands that parse options, call the library with keywords and show
each result's view (``mnetcost.views``). Library errors become one line on stderr and an exit code."""

from . import commands  # noqa: F401  (registers the commands)
from .app import app, main  # noqa: F401  (the package's API: the typer app and its entry point)
