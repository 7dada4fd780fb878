"""Formatting at the edge: rich tables for people, CSV / JSON / Markdown for pipes. No arithmetic
on costs happens here beyond choosing a unit."""

from __future__ import annotations

import csv
import io
import json
import math

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
    never broken (names): where the table cannot fit with them whole, each record's value takes a line of its own
    above the other columns."""
    from rich import box
    from rich.console import Group
    from rich.table import Table

    headers = [safe(header) for _, header, _ in columns]
    decimals = {key: _decimals(rec.get(key) for rec in records) for key, _, kind in columns if kind == "decimal"}
    cells = [[safe(_cell(rec.get(key), kind, decimals.get(key))) for key, _, kind in columns] for rec in records]
    styles = [row_style(rec) if row_style else None for rec in records]
    widths = _widths(columns, headers, cells, width, whole)
    if widths is None:
        return _stacked(title, columns, headers, cells, styles, caption, [k for k, _, _ in columns].index(whole))

    def table():
        out = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
        for (key, _, kind), header, fixed in zip(columns, headers, widths):
            out.add_column(header, justify="right" if kind in NUMERIC else "left", no_wrap=kind != "long",
                           overflow="fold" if kind == "long" else "ellipsis", width=fixed)
        for row, style in zip(cells, styles):
            out.add_row(*[plain(cell) for cell in row], style=style)
        return out

    laid_out = PlainTable(table, headers, [[safe(c) for c in row] for row in cells],
                          [kind for _, _, kind in columns], widths)
    return Group(*([plain(title)] if title else []), laid_out, *([plain(caption)] if caption else []))


class PlainTable:
    """A rich table (``records_table``'s: SIMPLE_HEAD, no edge padding) that, on a console without colour or
    styles (a pipe, a file), lays itself out in plain strings: the lines rich would print, without rich's
    per-cell rendering (a 400-row table in milliseconds instead of a quarter of a second). Anything else (a
    terminal's colours, an ASCII-only or legacy Windows console, a character wider or narrower than one cell, a
    table that does not fit) is rich's own layout of ``table``."""

    def __init__(self, build, headers, cells, kinds, widths):
        self.build, self.headers, self.cells, self.kinds, self.widths = build, headers, cells, kinds, widths
        self._table = None

    @property
    def table(self):
        """The rich Table, built when first needed."""
        if self._table is None:
            self._table = self.build()
        return self._table

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        return Measurement.get(console, options, self.table)

    def __rich_console__(self, console, options):
        from rich.segment import Segment

        plain_console = console.color_system is None and not options.ascii_only and not options.legacy_windows
        lines = self.lines(options.max_width) if plain_console else None
        if lines is None:
            yield self.table
            return
        for line in lines:
            yield Segment(line)
            yield Segment.line()

    def lines(self, max_width: int) -> list[str] | None:
        """The table's lines at ``max_width`` as rich lays them out, or None where this layout would differ."""
        n = len(self.headers)
        rows = [self.headers, *self.cells]
        if n == 0 or any(w is not None and w < 1 for w in self.widths) or not all(_single_cells(text) for row in rows for text in row) or any(
                "[" in h or ":" in h for h in self.headers):  # rich reads a header as markup and emoji codes
            return None
        pads = [(0 if i == 0 else 1) + (0 if i == n - 1 else 1) for i in range(n)]
        totals = [self.widths[i] + pads[i] if self.widths[i] is not None else
                  (max(len(line) for row in rows for line in row[i].splitlines() or [""]) + pads[i]) or 1
                  for i in range(n)]
        if max(totals) > max_width - (n + 1) or sum(totals) > max_width - (n + 1):
            return None  # rich would narrow the columns
        content = [t - p for t, p in zip(totals, pads)]
        out = [" " * (sum(totals) + n + 1), " " + "─" * (sum(totals) + n - 1) + " "]
        for index, row in enumerate(rows):
            laid = [_cell_lines(text, w, kind == "long", kind in NUMERIC) for text, w, kind in zip(row, content, self.kinds)]
            height = max(len(c) for c in laid)
            laid = [[" " * w] * (height - len(c)) + c if index == 0 else c + [" " * w] * (height - len(c))
                    for c, w in zip(laid, content)]  # rich aligns the header to the bottom, the rows to the top
            for k in range(height):
                parts = [(" " if i else "") + c[k] + (" " if i < n - 1 else "") for i, c in enumerate(laid)]
                out.insert(len(out) - 1 if index == 0 else len(out), " " + " ".join(parts) + " ")
        return out + [out[0]]


def _single_cells(text: str) -> bool:
    """Is every character of ``text`` (but newlines) printable and one terminal cell wide?"""
    from rich.cells import cell_len

    rest = text.replace("\n", "")
    return rest.isprintable() and (rest.isascii() or all(cell_len(ch) == 1 for ch in rest))


def _cell_lines(text: str, width: int, wrap: bool, right: bool) -> list[str]:
    """One cell's lines, each ``width`` wide, as rich's ``Text.wrap`` gives them: a wrapped cell divided between
    words (a longer word folded), a cell that does not wrap cut with an ellipsis; right or left justified."""
    from rich._wrap import divide_line

    out = []
    for line in text.split("\n"):
        if wrap and len(line) > width:  # a line that fits is one piece (rich divides it nowhere)
            cuts = [0, *divide_line(line, width, fold=True), len(line)]
            pieces = [line[a:b] for a, b in zip(cuts, cuts[1:])]
            pieces = [p[:len(p) - min(len(p) - width, len(p) - len(p.rstrip()))] if len(p) > width else p
                      for p in pieces]
        else:
            pieces = [line]
        for p in pieces:
            p = p.rstrip() if right else p
            if len(p) > width:
                p = p[:width] if wrap else p[:max(width - 1, 0)] + "…"
            out.append(p.rjust(width) if right else p.ljust(width))
    return out


def _longest_word(texts) -> int:
    return max([len(w) for t in texts for w in t.split()] + [1])


def _widths(columns, headers, cells, width, whole):
    """Each "long" column's width (None: the column's own, never wrapped), so that the table fits ``width``;
    None: it cannot with the ``whole`` column unbroken."""
    n = len(columns)
    long = [i for i, (_, _, kind) in enumerate(columns) if kind == "long"]
    if width is None or not long:
        return [None] * n
    natural = [max([len(headers[i])] + [len(row[i]) for row in cells]) for i in range(n)]
    natural = [max([len(line) for row in cells for line in row[i].splitlines()] + [_longest_word([headers[i]])])
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
            break
        out[widest] -= 1
    spare = room - sum(out)
    for i in sorted(long, key=lambda i: natural[i] - out[i]):  # what is left: first to the columns it unwraps whole
        add = min(natural[i] - out[i], spare)
        out[i] += add
        spare -= add
    return [out[i] if i in long else None for i in range(n)]


def _stacked(title, columns, headers, cells, styles, caption, whole):
    """A table whose ``whole`` column does not fit beside the others: its value on a line of its own, the other
    columns on the next."""
    from rich.console import Group
    from rich.text import Text

    rest = [i for i in range(len(columns)) if i != whole]
    widths = {i: max([len(headers[i])] + [len(row[i]) for row in cells]) for i in rest}

    def line(values):
        return "   " + "  ".join(values[i].rjust(widths[i]) if columns[i][2] in NUMERIC else values[i].ljust(widths[i])
                                 for i in rest).rstrip()

    body = Text(no_wrap=True, overflow="ignore")
    body.append(" " + headers[whole] + "\n" + line(headers) + "\n", style="bold")
    body.append(" " + "─" * max(len(line(headers)), len(headers[whole])) + "\n")
    for row, style in zip(cells, styles):
        body.append(" " + row[whole] + "\n" + line(row) + "\n", style=style)
    parts = [Text(safe(title)), Text(""), body]
    return Group(*parts, plain(caption)) if caption else Group(*parts)


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
