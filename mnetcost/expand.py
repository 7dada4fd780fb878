"""Expansion of table rows into primitive layers: the one place where widths, repeats, strides,
expansions, squeeze-excite and residuals are decided.

Primitive ops: ``conv`` (standard k x k, k > 1), ``pw`` (1x1 conv), ``dw`` (depthwise), ``se``
(squeeze-excite: global pool + two 1x1 FCs + channel scale), ``pool`` (global average pool),
``fc`` (fully connected / 1x1 conv on a 1x1 map), ``add`` (residual addition).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .conventions import Rules
from .errors import TableError, UsageError
from .scaling import FACTOR_RULES, SQUEEZE_RULES, out_size, scale_width
from .tables import MAX_VALUE, Row, Table


MAX_CHANNELS = MAX_VALUE  # beyond any network; keeps every count inside 64-bit integers' reach


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
    present: object = True  # with arrays: in which configurations the layer exists


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


def expand(table: Table, rules: Rules, alpha, resolution, classes: int, spatial: str,
           top: bool = True, head=None, stage_alpha=None) -> list[Layer]:
    """Unroll ``table`` at width multiplier ``alpha`` and input ``resolution`` into primitive layers.

    ``alpha`` may be an array (one configuration each), and so may ``resolution``; ``stage_alpha``,
    an array of shape configurations x rows, gives each row its own multiplier instead. With arrays,
    widths and sizes become arrays, and a layer that exists in only some configurations (an
    expansion as wide as its input, a residual addition) carries a ``present`` mask; with numbers, it
    is left out where absent. ``top=False`` drops the classifier top (the last pooling row and what
    follows), as Keras' ``include_top=False`` does; ``head=(320, 320)`` replaces it by ``head_rows``."""
    layers: list[Layer] = []
    h = w = resolution
    c_s = c_0 = table.channels  # input width: scaled, and as printed in the paper (the image: not scaled)
    row_alpha = alpha

    def describe(a):
        return f"{a:g}" if np.ndim(a) == 0 else "some configurations"

    memo: dict = {}  # a row's repeats share their widths: compute each once (arrays are costly)

    def width(role: str, c: float):
        if role == "classes":
            return classes
        rule = rules.width_rule(role)
        key = (rule, c, id(c_s), c_0) if rule in FACTOR_RULES else (rule, c)
        if key in memo:
            return memo[key]
        value = memo[key] = scale_width(rule, c, row_alpha, c_s, c_0)
        if np.any(np.asarray(value) < 1):
            raise UsageError(f"alpha {describe(row_alpha)} leaves a layer of {table.name} with "
                             f"{np.min(value)} channels (paper width {c})")
        if np.any(np.asarray(value) > MAX_CHANNELS):
            raise UsageError(f"alpha {describe(row_alpha)} gives a layer of {table.name} {np.max(value)} channels; "
                             f"at most {MAX_CHANNELS}")
        return value

    rows = table.rows if top and head is None else table.rows[: top_start(table)]
    if head is not None:
        rows = rows + head_rows(head)
    for r_index, row in enumerate(rows):
        if stage_alpha is not None:
            row_alpha = stage_alpha[:, r_index] if r_index < stage_alpha.shape[1] else 1.0
        memo.clear()
        for i in range(row.n):
            stride = row.stride if i == 0 else 1
            block = row.stage if row.n == 1 else f"{row.stage}.{i + 1}"

            def add(op, k, s, groups, cin, cout, hin, win, bn, act, c_mid=0, suffix="", present=True):
                if op in ("pool", "fc"):
                    hout = wout = 1
                elif op in ("se", "add"):
                    hout, wout = hin, win
                else:
                    hout, wout = out_size(hin, s, spatial), out_size(win, s, spatial)
                if np.ndim(present) == 0 and not present:
                    return hin, win  # absent in the one configuration
                layers.append(Layer(
                    name=f"{block}.{suffix}" if suffix else block, stage=row.stage, block=block, op=op,
                    kernel=k, stride=s, groups=groups, c_in=cin, c_out=cout, h_in=hin, w_in=win,
                    h_out=hout, w_out=wout, bn=bn, bias=not bn and op in ("conv", "pw", "dw", "fc", "se"),
                    act=act, c_mid=c_mid, present=present,
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
                c_in = c_s
                # an expansion as wide as its input is left out (torchvision, TF-slim, Keras alike)
                h, w = add("pw", 1, 1, 1, c_s, exp_s, h, w, row.bn, row.nl, suffix="expand", present=exp_s != c_s)
                h, w = add("dw", row.kernel, stride, exp_s, exp_s, exp_s, h, w, row.bn, row.nl, suffix="dw")
                if row.se:
                    key = ("squeeze", id(exp_s), id(c_in))
                    squeeze = memo[key] if key in memo else memo.setdefault(key, SQUEEZE_RULES[rules.se_squeeze](exp_s, c_in))
                    add("se", 1, 1, 1, exp_s, exp_s, h, w, False, "", c_mid=squeeze, suffix="se")
                h, w = add("pw", 1, 1, 1, exp_s, out_s, h, w, row.bn, "-", suffix="project")
                fits = np.logical_and(stride == 1, np.equal(c_in, out_s))
                if row.residual and not np.all(fits):
                    raise UsageError(f"{table.name}: the residual of row {row.stage!r} (line {row.line}) cannot apply at "
                                     f"alpha {describe(row_alpha)}: {np.min(c_in)} -> {np.min(out_s)} channels, stride {stride}")
                if row.residual is not False:
                    add("add", 1, 1, 1, out_s, out_s, h, w, False, "", suffix="add", present=fits)
            elif row.op == "pool":
                out_s, out_0 = c_s, c_0
                h, w = add("pool", 0, 1, 1, c_s, c_s, h, w, False, "")
            elif row.op == "fc":
                out_s = width(row.width, row.out)
                out_0 = out_s if row.width == "classes" else row.out
                if not (np.all(np.equal(h, 1)) and np.all(np.equal(w, 1))):
                    raise TableError(f"{table.name}: fc row {row.stage!r} (line {row.line}) needs a 1x1 input; add a pool row before it")
                add("fc", 1, 1, 1, c_s, out_s, 1, 1, row.bn, row.nl)
            else:  # parse_table admits only the ops above
                raise AssertionError(row.op)
            c_s, c_0 = out_s, out_0
    return layers
