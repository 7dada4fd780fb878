"""Expansion of table rows into primitive layers: the one place where widths, repeats, strides,
expansions, squeeze-excite and residuals are decided.

Primitive ops: ``conv`` (standard k x k, k > 1), ``pw`` (1x1 conv), ``dw`` (depthwise), ``se``
(squeeze-excite: global pool + two 1x1 FCs + channel scale), ``pool`` (global average pool),
``fc`` (fully connected / 1x1 conv on a 1x1 map), ``add`` (residual addition).
"""

from __future__ import annotations

from dataclasses import dataclass

from .conventions import Rules
from .errors import TableError, UsageError
from .scaling import SQUEEZE_RULES, out_size, scale_width
from .tables import Row, Table


MAX_CHANNELS = 2**31  # beyond any network; keeps every count inside 64-bit integers' reach


@dataclass(frozen=True)
class Layer:
    name: str
    stage: str
    block: str
    op: str
    kernel: int
    stride: int
    groups: int
    c_in: int
    c_out: int
    h_in: float
    w_in: float
    h_out: float
    w_out: float
    bn: bool
    bias: bool
    act: str
    c_mid: int = 0  # squeeze width of an se layer


def top_start(table: Table) -> int:
    """Index of the first row of the classifier top: the last pool row and everything after it."""
    pools = [i for i, row in enumerate(table.rows) if row.op == "pool"]
    return pools[-1] if pools else len(table.rows)


def head_rows(widths) -> tuple[Row, ...]:
    """A replacement top: global average pooling, dense layers of ``widths`` with ReLU, a classifier
    (the Keras transfer-learning recipe)."""
    rows = [Row(stage="head_pool", op="pool", kernel=1, out=None, n=1, stride=1, bn=False, source="--head")]
    for i, w in enumerate(widths, start=1):
        rows.append(Row(stage=f"dense{i}", op="fc", kernel=1, out=int(w), n=1, stride=1, nl="RE", bn=False,
                        width="fixed", source="--head"))
    rows.append(Row(stage="logits", op="fc", kernel=1, out=0, n=1, stride=1, bn=False, width="classes", source="--head"))
    return tuple(rows)


def expand(table: Table, rules: Rules, alpha: float, resolution: float, classes: int, spatial: str,
           top: bool = True, head=None) -> list[Layer]:
    """Unroll ``table`` at width multiplier ``alpha`` and input ``resolution`` into primitive layers.

    ``top=False`` drops the classifier top (the last pooling row and what follows), as Keras'
    ``include_top=False`` does; ``head=(320, 320)`` replaces it by ``head_rows``."""
    layers: list[Layer] = []
    h = w = resolution
    c_s = c_0 = table.channels  # input width: scaled, and as printed in the paper (the image: not scaled)

    def width(role: str, c: float) -> int:
        if role == "classes":
            return classes
        value = scale_width(rules.width_rule(role), c, alpha, c_s, c_0)
        if value < 1:
            raise UsageError(f"alpha {alpha:g} leaves a layer of {table.name} with {value} channels (paper width {c})")
        if value > MAX_CHANNELS:
            raise UsageError(f"alpha {alpha:g} gives a layer of {table.name} {value} channels; at most {MAX_CHANNELS}")
        return value

    rows = table.rows if top and head is None else table.rows[: top_start(table)]
    if head is not None:
        rows = rows + head_rows(head)
    for row in rows:
        for i in range(row.n):
            stride = row.stride if i == 0 else 1
            block = row.stage if row.n == 1 else f"{row.stage}.{i + 1}"

            def add(op, k, s, groups, cin, cout, hin, win, bn, act, c_mid=0, suffix=""):
                if op in ("pool", "fc"):
                    hout = wout = 1
                elif op in ("se", "add"):
                    hout, wout = hin, win
                else:
                    hout, wout = out_size(hin, s, spatial), out_size(win, s, spatial)
                layers.append(Layer(
                    name=f"{block}.{suffix}" if suffix else block, stage=row.stage, block=block, op=op,
                    kernel=k, stride=s, groups=groups, c_in=cin, c_out=cout, h_in=hin, w_in=win,
                    h_out=hout, w_out=wout, bn=bn, bias=not bn and op in ("conv", "pw", "dw", "fc", "se"),
                    act=act, c_mid=c_mid,
                ))
                return hout, wout

            if row.op == "conv":
                out_s, out_0 = width(row.width, row.out), row.out
                op = "pw" if row.kernel == 1 else "conv"
                h, w = add(op, row.kernel, stride, 1, c_s, out_s, h, w, row.bn, row.nl)
            elif row.op == "dw":
                out_s, out_0 = c_s, c_0
                h, w = add("dw", row.kernel, stride, c_s, c_s, c_s, h, w, row.bn, row.nl)
            elif row.op == "dwsep":
                out_s, out_0 = width(row.width, row.out), row.out
                h, w = add("dw", row.kernel, stride, c_s, c_s, c_s, h, w, row.bn, row.nl, suffix="dw")
                h, w = add("pw", 1, 1, 1, c_s, out_s, h, w, row.bn, row.nl, suffix="pw")
            elif row.op == "bneck":
                out_s, out_0 = width(row.width, row.out), row.out
                exp_0 = row.exp if row.exp is not None else row.t * c_0
                exp_s = width("expand", exp_0)
                h_in, w_in = h, w
                c_in = c_s
                if exp_s != c_s:
                    h, w = add("pw", 1, 1, 1, c_s, exp_s, h, w, row.bn, row.nl, suffix="expand")
                h, w = add("dw", row.kernel, stride, exp_s, exp_s, exp_s, h, w, row.bn, row.nl, suffix="dw")
                if row.se:
                    squeeze = SQUEEZE_RULES[rules.se_squeeze](exp_s, c_in)
                    add("se", 1, 1, 1, exp_s, exp_s, h, w, False, "", c_mid=squeeze, suffix="se")
                h, w = add("pw", 1, 1, 1, exp_s, out_s, h, w, row.bn, "-", suffix="project")
                fits = stride == 1 and c_in == out_s and (h, w) == (h_in, w_in)
                if row.residual and not fits:
                    raise UsageError(f"{table.name}: the residual of row {row.stage!r} (line {row.line}) cannot apply at "
                                     f"alpha {alpha:g}: {c_in} -> {out_s} channels, stride {stride}")
                if fits and row.residual is not False:
                    add("add", 1, 1, 1, out_s, out_s, h, w, False, "", suffix="add")
            elif row.op == "pool":
                out_s, out_0 = c_s, c_0
                h, w = add("pool", 0, 1, 1, c_s, c_s, h, w, False, "")
            elif row.op == "fc":
                out_s = width(row.width, row.out)
                out_0 = out_s if row.width == "classes" else row.out
                if (h, w) != (1, 1):
                    raise TableError(f"{table.name}: fc row {row.stage!r} (line {row.line}) needs a 1x1 input; add a pool row before it")
                add("fc", 1, 1, 1, c_s, out_s, 1, 1, row.bn, row.nl)
            else:  # parse_table admits only the ops above
                raise AssertionError(row.op)
            c_s, c_0 = out_s, out_0
    return layers
