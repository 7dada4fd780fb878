"""The terminal's side of rendering: the width tables are drawn for, writing a view in a format to
standard output (rich only for tables), symbols a terminal cannot encode, and a closed pipe."""

from __future__ import annotations

import sys

MIN_WIDTH = 60
# What a terminal without UTF-8 gets instead of the symbols mnetcost prints.
ASCII = {"α": "alpha", "ρ": "rho", "×": "x", "—": "-", "–": "-", "Δ": "d", "·": "*", "≈": "~", "≤": "<=", "≥": ">=",
         "²": "^2", "√": "sqrt", "→": "->", "…": "...", "†": "+", "±": "+/-", "µ": "u"}


def width() -> int | None:
    """The width for rich tables: COLUMNS when it is a usable number, never below MIN_WIDTH (COLUMNS=0 would
    print nothing); None: the terminal's own."""
    import os

    text = os.environ.get("COLUMNS", "")
    return MIN_WIDTH if text.strip().isdigit() and int(text) < MIN_WIDTH else None


def columns() -> int:
    """The width a table will get."""
    import shutil

    return width() or shutil.get_terminal_size((80, 24)).columns


def show(view, fmt: str, stream=None) -> None:
    """Write a view (``mnetcost.views.View``) as ``fmt``: table (rich), csv, json or markdown."""
    stream = stream or sys.stdout
    if fmt != "table":
        stream.write(view.text(fmt))
        return
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self):  # rich would exit 1; a closed pipe (| head) is a normal end
            raise BrokenPipeError

    console = _Console(width=width(), file=stream if stream is not sys.stdout else None)
    for item in view.rich(console.width):  # a no-wrap text (citations) is printed whole, whatever the width
        console.print(item, soft_wrap=bool(getattr(item, "no_wrap", False)))


def printable(text: str) -> str:
    """Control characters never reach the terminal."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def _ascii_fallback(error: UnicodeEncodeError):
    return "".join(ASCII.get(ch, "?") for ch in error.object[error.start:error.end]), error.end


def ascii_fallback() -> None:
    """Standard output and error print symbols they cannot encode as ASCII stand-ins."""
    import codecs

    codecs.register_error("mnetcost-ascii", _ascii_fallback)
    for stream in (sys.stdout, sys.stderr):
        try:
            "αρ×—Δ·".encode(getattr(stream, "encoding", None) or "ascii")
        except (UnicodeEncodeError, LookupError):
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="mnetcost-ascii")


def quiet_stdout() -> None:
    """After a closed pipe (``| head -1``): send what is left to nowhere, so that exiting raises nothing."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def progress():
    """Where a long command says what it is doing: one line on stderr each, when stderr is a terminal (None if not)."""
    if sys.stderr.isatty():
        return lambda message: print(f"mnetcost: {message}", file=sys.stderr, flush=True)
    return None
