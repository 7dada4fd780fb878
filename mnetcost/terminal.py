"""The terminal's side of rendering: the width tables are drawn for, writing a view in a format to
standard output (rich only for tables), symbols a terminal cannot encode, and a closed pipe."""

from __future__ import annotations

import sys

MIN_WIDTH = 60
# What a terminal without UTF-8 gets instead of the symbols mnetcost prints.
ASCII = {"α": "alpha", "ρ": "rho", "×": "x", "—": "-", "–": "-", "Δ": "d", "·": "*", "≈": "~", "≤": "<=", "≥": ">=",
         "²": "^2", "√": "sqrt", "→": "->", "…": "...", "†": "+", "±": "+/-", "µ": "u", "─": "-"}


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


class ClosedPipe(BrokenPipeError):
    """The reader went away (``| head``, ``| true``): a normal end, exit 0. Raised without an errno, so that
    click (which turns an EPIPE OSError into exit 1) passes it on to mnetcost's own handler."""


def show(view, fmt: str, stream=None) -> None:
    """Write a view (``mnetcost.views.View``) as ``fmt``: table (rich), csv, json or markdown; a closed pipe
    ends it the same way in every format (``ClosedPipe``)."""
    stream = stream or sys.stdout
    try:
        _show(view, fmt, stream)
    except BrokenPipeError:
        raise ClosedPipe from None


def _show(view, fmt: str, stream) -> None:
    if fmt != "table":
        stream.write(view.text(fmt))
        return
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self):  # rich would exit 1; a closed pipe (| head) is a normal end
            raise ClosedPipe

    console = _Console(width=width(), file=stream if stream is not sys.stdout else None)
    for item in view.rich(console.width):
        console.print(item, soft_wrap=bool(getattr(item, "no_wrap", False)))


_ascii_only = False  # set by ascii_fallback(): standard output cannot encode mnetcost's symbols


def printable(text, newlines: bool = False) -> str:
    """Free text as it may reach a terminal or a file, in every format: control characters escaped (a newline
    kept with ``newlines``), and on a terminal without UTF-8 each symbol replaced by its ASCII stand-in before
    anything is laid out (so that a table's columns keep their widths)."""
    text = str(text)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() or ch == " " or (newlines and ch == "\n") else repr(ch)[1:-1]
                       for ch in text)
    if _ascii_only and not text.isascii():
        text = "".join(ASCII.get(ch, ch) for ch in text)
    return text


def error(message: str, code: int = 0) -> int:
    """The CLI's error: one line on stderr (a multi-line message, a table's problems, keeps one prefix per line);
    returns ``code``."""
    try:
        for line in str(message).splitlines() or [""]:
            sys.stderr.write(f"mnetcost: error: {printable(line)}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    return code


def _ascii_fallback(error: UnicodeEncodeError):
    return "".join(ASCII.get(ch, "?") for ch in error.object[error.start:error.end]), error.end


def ascii_fallback() -> None:
    """Standard output and error print symbols they cannot encode as ASCII stand-ins."""
    import codecs

    global _ascii_only
    codecs.register_error("mnetcost-ascii", _ascii_fallback)
    _ascii_only = False
    for stream in (sys.stdout, sys.stderr):
        try:
            "".join(ASCII).encode(getattr(stream, "encoding", None) or "utf-8")  # no encoding (StringIO): any text
        except (UnicodeEncodeError, LookupError):
            _ascii_only = _ascii_only or stream is sys.stdout
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="mnetcost-ascii")


def ended(e: Exception) -> int:
    """The exit code of a run that raised ``e`` (anything but the CLI parser's own errors), after its one line on
    stderr: the library's errors as ``mnetcost.errors`` says, a closed pipe as a normal end (0), an output that
    cannot be written as the environment's (3), and a bug as an internal error (70) with what to report."""
    from .errors import EXIT_INTERNAL, EnvironmentProblem, MnetcostError

    if isinstance(e, MnetcostError):
        return error(str(e), e.exit_code)
    if isinstance(e, BrokenPipeError):
        quiet_stdout()
        return 0
    if isinstance(e, OSError):  # a full disk, a closed or unwritable output
        return error(f"cannot write the output: {e.strerror or e}", EnvironmentProblem.exit_code)
    if isinstance(e, (MemoryError, RecursionError)):
        return error(f"the input needs more memory or depth than this machine allows ({type(e).__name__}); "
                     "choose a smaller configuration", 2)
    return error(f"internal error ({type(e).__name__}: {e}); please report it with the command that caused it",
                 EXIT_INTERNAL)


def quiet_stdout() -> None:
    """After a closed pipe (``| head -1``): send what is left to nowhere, so that exiting raises nothing."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def tidy_help(group) -> None:
    """--help as the docs show it: an argument is its metavar (typer writes a required one as {MODEL} and adds
    its type, MODEL <str>), and each command's summary in ``mnetcost --help`` is its first sentence whole (click
    cuts it to the terminal's width with '...'; a long one wraps instead)."""
    import re

    for cmd in [group, *getattr(group, "commands", {}).values()]:
        if cmd.help:  # an example longer than 80 columns continues on the next lines, as a shell reads it
            cmd.help = "\n".join(fold(line) if line.startswith("Example:") else line for line in cmd.help.split("\n"))
        if cmd is not group and not cmd.short_help and cmd.help:
            first = " ".join(cmd.help.split("\n\n")[0].split())
            cmd.short_help = re.split(r"(?<=[a-z0-9)])\. ", first)[0].rstrip(".")
        for param in cmd.params:
            if getattr(param, "param_type_name", "") == "argument" and hasattr(param, "_usage_display_name"):
                shown = param.metavar or param.name.upper()
                param._usage_display_name = lambda shown=shown: shown
                param.display_type_rich = lambda ctx: None


def fold(example: str, width: int = 76) -> str:
    """A help example longer than an 80-column terminal, continued on the next lines as a shell reads it."""
    import textwrap

    lines = textwrap.wrap(example.strip(), width - 2, subsequent_indent="    ", break_long_words=False,
                          break_on_hyphens=False)
    return " \\\n".join(lines)


def progress():
    """Where a long command says what it is doing: one line on stderr each, when stderr is a terminal (None if not)."""
    if sys.stderr.isatty():
        return lambda message: print(f"mnetcost: {message}", file=sys.stderr, flush=True)
    return None


def saved(path, size: int) -> None:
    """The line that says where a page was written (nothing when it went to standard output)."""
    if path is not None:
        sys.stdout.write(f"wrote {printable(str(path))}: {size / 1e6:.1f} MB, one self-contained page (open it in a "
                         "browser; it fetches nothing)\n")
