"""Formatting at the edge: rich tables for people, CSV / JSON / Markdown for pipes. No arithmetic
on costs happens here beyond choosing a unit."""

from __future__ import annotations

import csv
import io
import json

from .engine import LAYER_COLUMNS, Cost, _py

UNITS = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k"))
FORMULA_START = ("=", "+", "-", "@")  # a spreadsheet would run a cell starting so
LONGEST_WORD = 26  # a word up to this long keeps its column wide enough; a longer one (an identifier, a URL) may fold


def safe(text) -> str:
    """Text from a table (names, titles) as it may reach a terminal: control characters escaped."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == "\n" else repr(ch)[1:-1] for ch in text)


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
               unit_note: str = MAC_NOTE):
    from rich.table import Table

    cols = result.columns
    total = result.macs * unit_factor
    exact = (f"Total: {total:,} {unit_label} · {result.params:,} params ({result.trainable:,} trainable)"
             if result.spatial == "exact" else
             f"Total: {total:,.1f} {unit_label} · {result.params:,} params ({result.trainable:,} trainable)")
    table = Table(title=markup_safe(describe(result)), caption=markup_safe(f"{exact}\n{convention_note}\n{unit_note}".strip()),
                  caption_justify="left", show_footer=True, header_style="bold", title_justify="left")
    table.add_column("layer", footer="total", no_wrap=True, overflow="ellipsis", max_width=16)
    table.add_column("op")
    table.add_column("k/s", justify="right")
    table.add_column("input", justify="right")
    table.add_column("output", justify="right")
    table.add_column(unit_label, justify="right", footer=human(total))
    table.add_column("params", justify="right", footer=human(result.params))
    for i in range(len(cols["name"])):
        op = cols["op"][i]
        ks = f"{cols['kernel'][i]}/{cols['stride'][i]}" if op in ("conv", "dw", "pw") else ""
        table.add_row(
            plain(cols["name"][i]), op, ks,
            _size(cols["h_in"][i], cols["w_in"][i], cols["c_in"][i]),
            _size(cols["h_out"][i], cols["w_out"][i], cols["c_out"][i]),
            human(cols["macs"][i] * unit_factor), human(cols["params"][i]),
        )
    return table


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
def records_table(title: str, columns, records, caption: str = "", row_style=None, width: int | None = None):
    """A rich table of ``records``; ``width``: the terminal's, which the wrapping columns share."""
    from rich import box
    from rich.table import Table

    table = Table(title=markup_safe(title), caption=markup_safe(caption) if caption else None, caption_justify="left",
                  title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    # short text and numbers never wrap; only "long" text (titles, reasons) does, between words: such a column is
    # at least as wide as its longest word (up to LONGEST_WORD), a number column as its header -- as far as the
    # terminal allows (rich would crop a table wider than the terminal)
    wanted = []
    for key, header, kind in columns:
        words = [len(w) for rec in records for w in str(rec.get(key) or "").split()] + [len(header), 11]
        wanted.append(min(max(words), LONGEST_WORD) if kind == "long" else len(header))
    long = [i for i, (_, _, kind) in enumerate(columns) if kind == "long"]
    if width is not None and long and sum(wanted) + 2 * len(columns) > width:
        # share what the other columns leave among the wrapping ones, never below 11
        share = max(11, (width - 2 * len(columns) - sum(w for i, w in enumerate(wanted) if i not in long)) // len(long))
        wanted = [min(w, share) if i in long else w for i, w in enumerate(wanted)]
    if width is not None and sum(wanted) + 2 * len(columns) > width:
        wanted = [11 if i in long else None for i in range(len(wanted))]
    for (key, header, kind), minimum in zip(columns, wanted):
        numeric = kind in ("count", "signed", "float", "ratio", "percent")
        table.add_column(header, justify="right" if numeric else "left", no_wrap=kind != "long",
                         overflow="fold" if kind == "long" else "ellipsis", min_width=minimum)
    for rec in records:
        table.add_row(*[plain(_cell(rec.get(key), kind)) for key, _, kind in columns],
                      style=row_style(rec) if row_style else None)
    return table


def _cell(value, kind) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
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
    lines = [f"**{md_cell(title)}**", "", "| " + " | ".join(h for _, h, _ in columns) + " |",
             "|" + "".join("---:|" if k in ("count", "signed", "float", "ratio", "percent") else "---|" for _, _, k in columns)]
    for rec in records:
        lines.append("| " + " | ".join(md_cell(rec.get(key)) for key, _, _ in columns) + " |")
    if caption:
        lines += ["", caption]
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
