"""Formatting at the edge: rich tables for people, CSV / JSON / Markdown for pipes. No arithmetic
on costs happens here beyond choosing a unit."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from functools import lru_cache

from .engine import LAYER_COLUMNS, Cost, _py

UNITS = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k"))
FORMULA_START = ("=", "+", "-", "@")  # a spreadsheet would run a cell starting so
LONGEST_WORD = 26  # a word up to this long keeps its column wide enough; a longer one (an identifier, a URL) may fold


def safe(text) -> str:
    """Free text (names, titles, captions, option values, paths) as it may reach a terminal, in every format:
    ``terminal.printable``'s one rule (control characters escaped, newlines kept; ASCII stand-ins on a terminal
    without UTF-8)."""
    from .terminal import printable

    return printable(text, newlines=True)


def plain(text):
    """Rich text that is never parsed as markup (a stage named '[/]' or '[bold red]x' is shown as it is)."""
    from rich.text import Text

    return Text(safe(text))


def markup_safe(text) -> str:
    """A title or caption for rich: markup escaped, control characters too (rich wraps a string caption between
    words reliably; a Text one can lose a letter at the line's end)."""
    from rich.markup import escape

    return escape(safe(text))


def csv_cell(value):
    """A CSV cell: numbers as they are; text with control characters escaped, and a leading quote where a
    spreadsheet would read a formula."""
    value = _py(value)
    if isinstance(value, str):
        value = safe(value)
        if value.startswith(FORMULA_START):
            return "'" + value
    return value


def md_cell(value) -> str:
    value = _py(value)
    return "" if value is None else safe(value).replace("|", "\\|").replace("\n", " ")
MAC_NOTE = "MACs = multiply-accumulates: one multiply-add is one MAC (FLOPs ≈ 2 × MACs)."


def human(n, digits: int = 1) -> str:
    """A count in human units: 300774272 -> '300.8 M', 864 -> '864'."""
    if n is None:
        return "-"
    value = float(n)
    for scale, suffix in UNITS:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}f} {suffix}"
    return f"{value:.{digits}f}" if value != int(value) else f"{int(value)}"


def _size(h, w, c) -> str:
    def num(x):
        x = float(x)
        return str(int(x)) if x.is_integer() else f"{x:.3g}"

    return f"{num(h)}x{num(w)}x{int(c)}"


def describe(result: Cost) -> str:
    """One line naming the configuration: model, alpha, resolution, convention, classes, spatial mode."""
    res = result.resolution
    res_text = f"{res:g} px" if isinstance(res, float) else (f"{res[0]}x{res[1]} px" if isinstance(res, tuple) else f"{res} px")
    top = "" if result.top is True else (", no top" if result.top is False else f", head {','.join(map(str, result.top))}")
    top += (", aux" if result.aux else "") + (", reduced tail" if result.reduced_tail else "")
    return (f"{result.model} ({result.title})\nalpha {result.alpha:g} · {res_text} (rho {result.rho:.4g}) · "
            f"convention {result.convention} · {result.classes} classes · {result.spatial}{top}")


def rich_table(result: Cost, convention_note: str = "", unit_factor: int = 1, unit_label: str = "MACs",
               unit_note: str = MAC_NOTE, width: int | None = None):
    """A cost layer by layer; within ``width`` (the terminal's) shapes and counts are never cut, a long layer name
    is shortened (…) only where nothing else is left; the caption below, at the terminal's width."""
    from rich import box
    from rich.console import Group
    from rich.table import Table

    cols = result.columns
    total = result.macs * unit_factor
    exact = (f"Total: {total:,} {unit_label} · {result.params:,} params ({result.trainable:,} trainable)"
             if result.spatial == "exact" else
             f"Total: {total:,.1f} {unit_label} · {result.params:,} params ({result.trainable:,} trainable)")
    rows = []
    for i in range(len(cols["name"])):
        op = cols["op"][i]
        ks = f" {cols['kernel'][i]}/{cols['stride'][i]}" if op in ("conv", "dw", "pw") else ""
        rows.append([safe(cols["name"][i]), safe(op) + ks,
                     _size(cols["h_in"][i], cols["w_in"][i], cols["c_in"][i]),
                     _size(cols["h_out"][i], cols["w_out"][i], cols["c_out"][i]),
                     human(cols["macs"][i] * unit_factor), human(cols["params"][i])])
    footer = ["total", "", "", "", human(total), human(result.params)]
    headers = ["layer", "op k/s", "input", "output", safe(unit_label), "params"]
    others = sum(max(len(r[i]) for r in [headers, footer, *rows]) for i in range(1, 6))
    name = max(len(r[0]) for r in [headers, *rows])
    if width is not None:
        name = max(8, min(name, width - (3 * 6 - 1) - others))
    table = Table(show_footer=True, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("layer", footer="total", no_wrap=True, overflow="ellipsis", max_width=name)
    table.add_column("op k/s", no_wrap=True)
    table.add_column("input", justify="right", no_wrap=True)
    table.add_column("output", justify="right", no_wrap=True)
    table.add_column(headers[4], justify="right", footer=footer[4], no_wrap=True)
    table.add_column("params", justify="right", footer=footer[5], no_wrap=True)
    for row in rows:
        table.add_row(*[plain(cell) for cell in row])
    return Group(plain(describe(result)), table, plain(f"{exact}\n{convention_note}\n{unit_note}".strip()))


def to_csv(result: Cost, unit_factor: int | None = None) -> str:
    """One row per layer; with ``unit_factor`` a ``flops`` column (MACs x factor) follows ``macs``."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    names = list(LAYER_COLUMNS)
    if unit_factor:
        names.insert(names.index("macs") + 1, "flops")
    w.writerow(names)
    cols = result.columns
    for i in range(len(cols["name"])):
        w.writerow([_py(cols["macs"][i] * unit_factor) if c == "flops" else csv_cell(cols[c][i]) for c in names])
    return out.getvalue()


def to_json(result: Cost) -> str:
    return json.dumps(result.to_dict(), indent=2) + "\n"


def to_markdown(result: Cost) -> str:
    """The rich table's columns, with exact counts (the CSV and JSON formats carry every column)."""
    cols = result.columns
    lines = [f"**{md_cell(describe(result).replace(chr(10), ' — '))}**", "",
             "| layer | op | k/s | input | output | MACs | params |", "|---|---|---|---:|---:|---:|---:|"]
    for i in range(len(cols["name"])):
        op = cols["op"][i]
        ks = f"{cols['kernel'][i]}/{cols['stride'][i]}" if op in ("conv", "dw", "pw") else ""
        cells = [md_cell(cols["name"][i]), op, ks, _size(cols["h_in"][i], cols["w_in"][i], cols["c_in"][i]),
                 _size(cols["h_out"][i], cols["w_out"][i], cols["c_out"][i]), md_cell(cols["macs"][i]),
                 md_cell(cols["params"][i])]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Total: {result.macs} MACs, {result.params} params ({result.trainable} trainable).", "", MAC_NOTE]
    return "\n".join(lines) + "\n"


# Generic records: a list of dicts and column specs (key, header, kind). kind "count" is shown in
# human units in rich tables; machine formats always get the raw values.
NUMERIC = ("count", "signed", "float", "decimal", "ratio", "percent")  # "decimal": one number of decimals a column


def records_table(title: str, columns, records, caption: str = "", row_style=None, width: int | None = None,
                  whole: str | None = None):
    """A rich table of ``records`` and its caption below it (wrapped at the terminal's width, not the table's).
    ``width``: the terminal's, never exceeded: short text and numbers never wrap; "long" text wraps between words,
    its column at least as wide as its longest word (up to LONGEST_WORD). ``whole``: a column whose values are
    never broken (names; by default a first text column when no column wraps): where the table cannot fit with them whole
    and no word broken, each record's value takes a line of its own above the other columns."""
    from rich.console import Group

    headers = [safe(header) for _, header, _ in columns]
    decimals = {key: _decimals(rec.get(key) for rec in records) for key, _, kind in columns if kind == "decimal"}
    cells = [[safe(_cell(rec.get(key), kind, decimals.get(key))) for key, _, kind in columns] for rec in records]
    styles = [row_style(rec) if row_style else None for rec in records]
    widths = _widths(columns, headers, cells, width, whole)
    if widths is None:
        return _stacked(title, columns, headers, cells, styles, caption,  # by default the first column's values
                        [k for k, _, _ in columns].index(whole) if whole is not None else 0, width)  # head the lines
    table = _Table(columns, headers, cells, styles, widths)
    return Group(*([plain(title)] if title else []), table, *([plain(caption)] if caption else []))


# The lines of a table without edge padding as rich draws them: its borderless ``box.SIMPLE_HEAD``, and on a
# terminal without UTF-8 the ASCII grid rich puts in its place. Rules above the header, below it and below the rows
# as (left, line, between columns, right); a row's (left, between columns, right).
BOXES = {False: ((" ", " ", " ", " "), (" ", "─", "─", " "), (" ", " ", " ", " "), (" ", " ", " ")),
         True: (("+", "-", "-", "+"), ("|", "-", "+", "|"), ("+", "-", "-", "+"), ("|", "|", "|"))}


class _Table:
    """A table laid out by mnetcost as rich lays out ``Table(box=box.SIMPLE_HEAD, pad_edge=False)``: the header in
    bold at the bottom of its lines, cells at the top of theirs, numbers to the right; a fixed width wraps its
    column's text between words (a longer word folds), any other column is as wide as its widest cell. Rich's
    own Table takes a hundred times longer for the same lines (``tests/test_views.py`` holds the two equal)."""

    def __init__(self, columns, headers, cells, styles, widths):
        from rich.cells import cell_len

        self.right = [kind in NUMERIC for _, _, kind in columns]
        self.sizes = [w if w is not None else max(cell_len(line) for text in [header, *(row[i] for row in cells)]
                                                  for line in text.split("\n"))
                      for i, (header, w) in enumerate(zip(headers, widths))]
        self.widths, self.styles = widths, styles
        self.header = self._rows(headers, bottom=True)
        self.rows = [self._rows(row) for row in cells]

    def _cell(self, text, i):
        """A cell's lines, each padded to its column's width."""
        from rich.cells import cell_len
        from rich.text import Text

        size, right = self.sizes[i], self.right[i]
        if "\n" not in text and "\t" not in text and cell_len(text) <= size:
            text = text.rstrip() if right else text
            pad = " " * (size - cell_len(text))
            return [pad + text if right else text + pad]
        if self.widths[i] is not None:
            return _folded(text, size, right)
        wrapped = Text(text).wrap(_console(), size, justify="right" if right else "left", no_wrap=True,
                                  overflow="ellipsis")  # a cell of many lines in a column that never wraps
        return [line.plain for line in wrapped] or [" " * size]

    def _rows(self, values, bottom=False):
        """A row's cells as lines of text: the cells' lines side by side, a short cell padded below (above for the
        header)."""
        parts = [self._cell(v, i) for i, v in enumerate(values)]
        height = max(len(p) for p in parts)
        blank = [[" " * size] * (height - len(p)) for size, p in zip(self.sizes, parts)]
        parts = [b + p if bottom else p + b for b, p in zip(blank, parts)]
        return [[p[k] for p in parts] for k in range(height)]

    def lines(self, ascii_only: bool = False):
        """The table's lines, each with its style (None: none)."""
        top, under_header, bottom, (left, between, right) = BOXES[ascii_only]
        n = len(self.sizes)

        def rule(left, line, cross, right):
            return left + cross.join(line * (s + (i > 0) + (i < n - 1)) for i, s in enumerate(self.sizes)) + right

        def row(cells):
            return left + f" {between} ".join(cells) + right

        yield rule(*top), None
        yield from ((row(cells), "bold") for cells in self.header)
        yield rule(*under_header), None
        for lines, style in zip(self.rows, self.styles):
            yield from ((row(cells), style) for cells in lines)
        yield rule(*bottom), None

    def __rich_console__(self, console, options):  # one segment a line: nothing for rich to wrap or measure
        from rich.segment import Segment

        for line, style in self.lines(options.ascii_only):
            yield Segment(line, console.get_style(style) if style else None)
            yield Segment.line()


@lru_cache(maxsize=1)
def _console():
    """A console for rich's word wrap (``Text.wrap`` asks one; its width is given each time); never printed to."""
    from rich.console import Console

    return Console(width=80)


def _folded(text: str, width: int, right: bool = False) -> list[str]:
    """A wrapping cell's lines, each ``width`` wide, as rich wraps them: a word that does not fit starts a line,
    one wider than a line folds (ASCII by ``_wrapped``, anything else by rich's ``Text.wrap``)."""
    from rich.text import Text

    if text.isascii() and text.isprintable():
        return _wrapped(text, width, right)
    lines = Text(text).wrap(_console(), width, justify="right" if right else "left", overflow="fold")
    return [line.plain for line in lines] or [" " * width]


_WORD = re.compile(r"\s*\S+\s*")  # a word and the spaces after it (and before the first)


def _wrapped(text: str, width: int, right: bool) -> list[str]:
    """One line of ASCII text wrapped as rich wraps a table's cell (``rich._wrap.divide_line``: a word that does not
    fit starts a line, one wider than the line folds; then each line's spaces beyond the width dropped and the line
    justified), each line ``width`` wide; rich's own ``Text.wrap`` takes ten times as long."""
    breaks, offset = [], 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group()
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:  # no line holds it: folded
            chunks = [word[k:k + width] for k in range(0, len(word), width)]
            for chunk in chunks:
                if start:
                    breaks.append(start)
                start += len(chunk)
            offset = len(chunks[-1])
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    lines = [text[a:b] for a, b in zip([0, *breaks], [*breaks, len(text)])]
    lines = [line[:width] + line[width:].rstrip() if len(line) > width else line for line in lines]
    return [line.rstrip()[:width].rjust(width) if right else line[:width].ljust(width) for line in lines]


def _longest_word(texts) -> int:
    from rich.cells import cell_len

    return max([cell_len(w) for t in texts for w in t.split()] + [1])


def _widths(columns, headers, cells, width, whole):
    """Each "long" column's width (None: the column's own, never wrapped), so that the table fits ``width``;
    None: it cannot (nothing may wrap and it is too wide, the ``whole`` column would break, or the long columns
    cannot narrow enough): it stacks."""
    from rich.cells import cell_len  # a terminal's cells: a CJK character takes two

    n = len(columns)
    long = [i for i, (_, _, kind) in enumerate(columns) if kind == "long"]
    if width is None:
        return [None] * n
    natural = [max([cell_len(headers[i])] + [cell_len(row[i]) for row in cells]) for i in range(n)]
    if not long:  # nothing wraps: too wide, it stacks (rather than lose columns at the terminal's edge)
        return None if sum(natural) > width - (3 * n - 1) else [None] * n
    natural = [max([cell_len(line) for row in cells for line in row[i].splitlines()] + [_longest_word([headers[i]])])
               if i in long else w for i, w in enumerate(natural)]
    shortest = [(w if columns[i][0] == whole else min(w, LONGEST_WORD,
                                                          max(_longest_word([headers[i]] + [r[i] for r in cells]), 3)))
                if i in long else w for i, w in enumerate(natural)]
    room = width - (3 * n - 1)  # SIMPLE_HEAD without edge padding: one space each side, one between columns
    out = list(shortest)
    if sum(out) > room and whole is not None:
        return None
    while sum(out) > room:  # the widest long column gives way first: its longest words fold
        widest = max(long, key=lambda i: out[i])
        if out[widest] <= 4:
            return None  # even then it cannot fit: the first column takes lines of its own
        out[widest] -= 1
    spare = room - sum(out)
    for i in sorted(long, key=lambda i: natural[i] - out[i]):  # what is left: first to the columns it unwraps whole
        add = min(natural[i] - out[i], spare)
        out[i] += add
        spare -= add
    return [out[i] if i in long else None for i in range(n)]


def _stacked(title, columns, headers, cells, styles, caption, whole, width=None):
    """A table whose ``whole`` column does not fit beside the others: its value on a line of its own, the other
    columns on the next (on as many lines as ``width`` needs, each column whole; a "long" text wider than the
    terminal wraps between words)."""
    from rich.console import Group
    from rich.text import Text

    rest = [i for i in range(len(columns)) if i != whole]
    widths = {i: max([len(headers[i])] + [len(line) for row in cells for line in row[i].split("\n")]) for i in rest}
    if width is not None:
        widths.update({i: max(min(w, width - 3), 1) for i, w in widths.items() if columns[i][2] == "long"})
    groups = _fitting_groups(rest, widths, width)

    def cell(i, text):
        if columns[i][2] == "long":
            return _folded(text, widths[i])
        return [text.rjust(widths[i]) if columns[i][2] in NUMERIC else text.ljust(widths[i])]

    def lines(values):
        out = []
        for group in groups:
            parts = [cell(i, values[i]) for i in group]
            out += ["   " + "  ".join(p[k] if k < len(p) else " " * widths[i] for i, p in zip(group, parts)).rstrip()
                    for k in range(max(len(p) for p in parts))]
        return "\n".join(out)

    rule = max([len(line) for line in lines(headers).splitlines()] + [len(headers[whole])])
    body = Text(no_wrap=True, overflow="ignore")
    body.append(" " + headers[whole] + "\n" + lines(headers) + "\n", style="bold")
    body.append(" " + safe("─") * rule + "\n")  # "-" on a terminal without UTF-8
    for row, style in zip(cells, styles):
        body.append(" " + row[whole] + "\n" + lines(row) + "\n", style=style)
    parts = [Text(safe(title)), Text(""), body]
    return Group(*parts, plain(caption)) if caption else Group(*parts)


def _fitting_groups(rest, widths, width):
    """``rest`` split into runs of columns whose line (3 spaces, then 2 between columns) fits ``width``."""
    groups, used = [[]], 1
    for i in rest:
        if groups[-1] and width is not None and used + 2 + widths[i] > width:
            groups.append([])
            used = 1
        used += (2 if len(groups[-1]) else 3) + widths[i]
        groups[-1].append(i)
    return groups


def _decimals(values, most: int = 4) -> int:
    """The decimals a column of numbers needs for all its values, so that every row shows the same number."""
    found = 0
    for v in values:
        if isinstance(v, (int, float)) and math.isfinite(v):
            text = f"{v:.{most}f}".rstrip("0")
            found = max(found, len(text.partition(".")[2]))
    return found


def _cell(value, kind, decimals=None) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if kind == "decimal" and isinstance(value, (int, float)) and math.isfinite(value):
        return f"{value:.{decimals or 0}f}"
    if kind == "count":
        return human(value)
    if kind == "signed":
        return ("+" if value > 0 else "") + human(value) if value else "0"
    if kind == "ratio":
        return f"{value:.4f}"
    if kind == "percent":
        return f"{100 * value:.2f}%"
    if kind == "float":
        return f"{value:g}"
    return str(value)


def records_csv(columns, records) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([header for _, header, _ in columns])
    for rec in records:
        w.writerow([csv_cell(rec.get(key)) for key, _, _ in columns])
    return out.getvalue()


def records_markdown(title: str, columns, records, caption: str = "") -> str:
    lines = [f"**{md_cell(title)}**", "", "| " + " | ".join(md_cell(h) for _, h, _ in columns) + " |",
             "|" + "".join("---:|" if k in NUMERIC else "---|" for _, _, k in columns)]
    for rec in records:
        lines.append("| " + " | ".join(md_cell(rec.get(key)) for key, _, _ in columns) + " |")
    if caption:
        lines += ["", safe(caption)]
    return "\n".join(lines) + "\n"


def records_dicts(columns, records) -> list[dict]:
    """Records keyed by their columns' public names (for JSON)."""
    return [{header: _py(rec.get(key)) for key, header, _ in columns} for rec in records]


def to_json_document(document) -> str:
    """JSON that is always JSON: a count that is not a finite number is an error, never NaN or Infinity."""
    from .errors import UsageError

    try:
        return json.dumps(document, indent=2, default=_py, allow_nan=False) + "\n"
    except ValueError:
        raise UsageError("a result is not a finite number: the inputs are too extreme to compute") from None
