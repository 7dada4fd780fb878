"""Formatting at the edge: rich tables for people, CSV / JSON / Markdown for pipes. No arithmetic
on costs happens here beyond choosing a unit."""

from __future__ import annotations

import csv
import io
import json

from .engine import LAYER_COLUMNS, Cost, _py

UNITS = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k"))
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
    res_text = f"{res:g} px" if isinstance(res, float) else f"{res} px"
    top = "" if result.top else ", no top"
    return (f"{result.model} ({result.title})\nalpha {result.alpha:g} · {res_text} (rho {result.rho:.4g}) · "
            f"convention {result.convention} · {result.classes} classes · {result.spatial}{top}")


def rich_table(result: Cost, convention_note: str = ""):
    from rich.table import Table

    cols = result.columns
    exact = (f"Total: {result.macs:,} MACs · {result.params:,} params ({result.trainable:,} trainable)"
             if result.spatial == "exact" else
             f"Total: {result.macs:,.1f} MACs · {result.params:,} params ({result.trainable:,} trainable)")
    table = Table(title=describe(result), caption=f"{exact}\n{convention_note}\n{MAC_NOTE}".strip(),
                  caption_justify="left", show_footer=True, header_style="bold", title_justify="left")
    table.add_column("layer", footer="total", no_wrap=True, overflow="ellipsis", max_width=16)
    table.add_column("op")
    table.add_column("k/s", justify="right")
    table.add_column("input", justify="right")
    table.add_column("output", justify="right")
    table.add_column("MACs", justify="right", footer=human(result.macs))
    table.add_column("params", justify="right", footer=human(result.params))
    for i in range(len(cols["name"])):
        op = cols["op"][i]
        ks = f"{cols['kernel'][i]}/{cols['stride'][i]}" if op in ("conv", "dw", "pw") else ""
        table.add_row(
            cols["name"][i], op, ks,
            _size(cols["h_in"][i], cols["w_in"][i], cols["c_in"][i]),
            _size(cols["h_out"][i], cols["w_out"][i], cols["c_out"][i]),
            human(cols["macs"][i]), human(cols["params"][i]),
        )
    return table


def to_csv(result: Cost) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(LAYER_COLUMNS)
    cols = result.columns
    for i in range(len(cols["name"])):
        w.writerow([_py(cols[c][i]) for c in LAYER_COLUMNS])
    return out.getvalue()


def to_json(result: Cost) -> str:
    return json.dumps(result.to_dict(), indent=2) + "\n"


def to_markdown(result: Cost) -> str:
    cols = result.columns
    lines = [f"**{describe(result).replace(chr(10), '** — ')}", "",
             "| " + " | ".join(LAYER_COLUMNS) + " |", "|" + "---|" * len(LAYER_COLUMNS)]
    for i in range(len(cols["name"])):
        lines.append("| " + " | ".join(str(_py(cols[c][i])) for c in LAYER_COLUMNS) + " |")
    lines += ["", f"Total: {result.macs} MACs, {result.params} params ({result.trainable} trainable).", "", MAC_NOTE]
    return "\n".join(lines) + "\n"
