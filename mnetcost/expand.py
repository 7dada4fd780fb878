"""Expansion of table rows into primitive layers: the one place where widths, repeats, strides,
dilations, expansions, squeeze-excite, residuals and the tensors each layer reads are decided.
What layers each row op emits is its row type's (``rows.py``, beside what its row may hold); this
module runs them over a table's rows, scales their widths by the convention's rules, applies a head
table's output stride and keeps the tensors by name.

Primitive ops: ``conv`` (standard k x k, k > 1), ``pw`` (1x1 conv), ``dw`` (depthwise), ``se``
(squeeze-excite: global pool + two 1x1 FCs + channel scale), ``pool`` (global average pool),
``fc`` (fully connected / 1x1 conv on a 1x1 map), ``add`` (element-wise addition: residuals, merges),
``mul`` (element-wise product, broadcasting a 1x1 map), ``concat`` (channel concatenation),
``upsample`` (bilinear, to another tensor's size), ``norm`` (a BatchNorm alone), ``attn`` (the two
matmuls of multi-query attention), ``scale`` (layer scale), and any op a user registered.

The expansion works on arrays: widths have one value per configuration (an array of alphas, or of
per-row multipliers), heights and widths one value per resolution. A layer that exists in only some
configurations (an expansion as wide as its input, a residual addition) carries a ``present`` mask.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .conventions import Rules, Shaping
from .errors import TableError, UsageError
from .ops import BUILTIN, Area
from .rows import MAX_LAYERS, row_type  # noqa: F401  (MAX_LAYERS: checked first when a table is parsed, from its rows)
from .scaling import FACTOR_RULES, out_size, scale_width
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
    groups: object
    c_in: object  # one value per configuration
    c_out: object
    h_in: object  # one value per resolution
    w_in: object
    h_out: object
    w_out: object
    bn: bool
    bias: bool
    act: str
    c_mid: object = 0  # squeeze width of an se layer
    present: object = True  # in which configurations the layer exists
    inputs: tuple = ()  # names of the tensors read: "input" or earlier layers' names
    dilation: int = 1
    args: dict = dataclasses.field(default_factory=dict)  # op-specific arguments (register_op)
    size_of: str = ""  # upsample: the tensor whose height and width it takes
    part: str = "head"  # "backbone" for a head table's backbone layers

    @cached_property  # kept in the layer's __dict__ (a frozen dataclass allows it): every op's formulas ask it
    def area_in(self) -> Area:
        return Area(self.h_in * self.w_in)

    @cached_property
    def area_out(self) -> Area:
        return Area(self.h_out * self.w_out)


@dataclass(frozen=True)
class _Tensor:
    """A tensor during expansion: scaled and paper widths, height and width, stride and dilation rate."""

    name: str
    c: object
    c0: object
    h: object
    w: object
    stride: int = 1
    rate: int = 1


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
    rows.append(Row(stage="logits", op="fc", kernel=1, out=0, n=1, stride=1, bn=False, width="classes",
                    expr=("k",), source="--head"))
    return tuple(rows)


def selected_rows(table: Table, top=True, head=None, switches=(), reduced_tail=False):
    """The rows a configuration uses, each with its index in ``table.rows`` (None for ``--head`` rows):
    switch rows kept only when switched on, the reduced tail halved, the top dropped or replaced."""
    unknown = set(switches) - table.switches
    if unknown:
        raise UsageError(f"{table.name} has no {' or '.join(sorted(unknown))} rows (its switches: "
                         f"{', '.join(sorted(table.switches)) or 'none'})")
    if reduced_tail and not table.reduced_tail:
        raise UsageError(f"{table.name} defines no reduced tail (a '# reduced-tail:' line)")
    if (not top or head is not None) and table.backbone:
        raise UsageError(f"{table.name} is a head table: it has no classifier top to drop or replace")
    halve = {}
    for stage, f in table.reduced_tail if reduced_tail else ():
        halve.setdefault(stage, set()).add(f)
    end = len(table.rows) if top and head is None else top_start(table)
    rows = []
    for i, row in enumerate(table.rows[:end]):
        if row.when and row.when not in switches:
            continue
        if row.stage in halve:
            row = dataclasses.replace(row, out=row.out // 2 if "out" in halve[row.stage] else row.out,
                                      exp=row.exp // 2 if "exp" in halve[row.stage] and row.exp else row.exp,
                                      t=row.t / 2 if "exp" in halve[row.stage] and row.t else row.t)
        rows.append((i, row))
    if not rows:
        raise UsageError(f"{table.name} has no rows left without its top")
    return rows + [(None, row) for row in (head_rows(head) if head is not None else ())]


def expand(table: Table, rules: Rules, alpha, h, w, classes: int, spatial: str, top: bool = True, head=None,
           stage_alpha=None, switches=(), reduced_tail: bool = False, symbols=None, ops=BUILTIN) -> list[Layer]:
    """Unroll ``table`` into primitive layers, for configurations ``alpha`` (an array: one width
    multiplier each) or ``stage_alpha`` (configurations x table rows: a multiplier per row), at input
    heights ``h`` and widths ``w`` (arrays: one value per resolution).

    ``top=False`` drops the classifier top (the last pooling row and what follows), as Keras'
    ``include_top=False`` does; ``head=(320, 320)`` replaces it by ``head_rows``. ``switches``
    (``{"aux"}``) keeps the rows that exist only under them; ``reduced_tail`` halves the widths the
    table's ``# reduced-tail:`` line names (V3's RF2 and dagger variants); ``symbols`` sets the table's
    params (``{"f": 256}``). Each row's layers are its row type's (rows.py)."""
    shaping = getattr(rules, "shaping", rules)  # all of the rules an expansion may read (a Rules, or its Shaping)
    key = None
    if stage_alpha is None and np.ndim(alpha) <= 1 and np.size(alpha) == 1:
        alpha = float(np.ravel(alpha)[0])  # one configuration: plain numbers, the rules' scalar path (tested equal)
        if np.size(h) <= 16 and np.size(w) <= 16:
            key = (id(table), id(ops), shaping, alpha, _array_key(h), _array_key(w), classes, spatial, top,
                   None if head is None else tuple(head), tuple(switches), reduced_tail,
                   tuple(sorted((symbols or {}).items())))
            kept = _KEPT.get(key)
            if kept is not None and kept[0] is table and kept[1] is ops:
                return list(kept[2])
            h, w = _frozen(h), _frozen(w)  # the layers kept read them: no caller can change them later
    b = _Builder(table, shaping, alpha, h, w, classes, spatial, symbols, ops)
    for r_index, row in selected_rows(table, top, head, switches, reduced_tail):
        if stage_alpha is not None:
            b.row_alpha = stage_alpha[:, r_index] if r_index is not None and r_index < stage_alpha.shape[1] else 1.0
        b.expand_row(row)
    if key is not None:
        if len(_KEPT) >= KEEP:
            del _KEPT[next(iter(_KEPT))]
        _KEPT[key] = (table, ops, b.layers)  # the table and op set kept alive: their ids stay theirs
    return list(b.layers)


# The last expansions of one configuration, by everything an expansion reads: costing one network under several
# conventions (compare, explain) expands it once per set of width rules, not once per convention.
KEEP = 32
_KEPT: dict = {}


def _frozen(values) -> np.ndarray:
    a = np.array(values)
    a.setflags(write=False)
    return a


def _array_key(values) -> tuple:
    a = np.asarray(values)
    return a.dtype.str, a.shape, a.tobytes()


class _Builder:
    """The state of one expansion, and what a row type's ``build`` asks of it: widths scaled by the
    convention's rules (``width``, ``symbolic``), tensors by name (``resolve``), layers (``add``)."""

    def __init__(self, table: Table, rules: Shaping, alpha, h, w, classes: int, spatial: str, symbols, ops=BUILTIN):
        self.table, self.rules, self.spatial, self.ops = table, rules, spatial, ops
        self.shape = np.shape(alpha)
        self.alpha = self.row_alpha = alpha
        self.layers: list[Layer] = []
        channels = np.full(self.shape, table.channels, dtype=float) if self.shape else table.channels
        self.image = _Tensor("input", channels, table.channels, h, w)
        self.tensors: dict[str, _Tensor] = {"input": self.image}
        self.current = self.image
        self.anchors = {**dict(table.params), **(symbols or {}), "k": classes, "a": rules.anchors,
                        "a1": rules.anchors_first}
        self.memo: dict = {}  # a row's repeats share their widths: compute each once (arrays are costly)
        self.row, self.block, self.sources, self.dilate = None, "", [], False

    def expand_row(self, row: Row):
        """Emit the layers of ``row``'s repeats; the first reads the row's sources and takes its stride."""
        kind = row_type(row.op)
        self.memo.clear()
        self.row = row
        self.sources = [self.resolve(ref, row) for ref in row.inputs] or [self.current]
        self.dilate = row.part == "backbone" and bool(self.table.output_stride)
        for i in range(row.n):
            self.block = row.stage if row.n == 1 else f"{row.stage}.{i + 1}"
            x = self.sources[0] if i == 0 else self.current
            self.current = self.tensors[self.block] = kind.build(self, row, x, row.stride if i == 0 else 1)
        self.tensors[row.stage] = self.current

    def describe(self) -> str:
        a = self.row_alpha
        return f"{np.ravel(a)[0]:g}" if np.size(a) == 1 else "some configurations"

    def width(self, role: str, c: float, x: _Tensor):
        """Paper width ``c`` of a layer reading ``x``, scaled by the convention's rule for ``role``."""
        rule = self.rules.width_rule(role)
        key = (rule, c, id(x.c), x.c0) if rule in FACTOR_RULES else (rule, c)
        if key in self.memo:
            return self.memo[key]
        try:
            value = scale_width(rule, c, self.row_alpha, x.c, x.c0)
        except OverflowError:  # the scalar path's int() of an infinite width (alpha near 1e308): as the array's inf
            value = float("inf")
        if self.shape:
            value = np.broadcast_to(value, self.shape)
        least, most = (np.min(value), np.max(value)) if self.shape else (value, value)
        if least < 1:
            raise UsageError(f"alpha {self.describe()} leaves a layer of {self.table.name} with "
                             f"{least:g} channels (paper width {c})")
        if most > MAX_CHANNELS:
            raise UsageError(f"alpha {self.describe()} gives a layer of {self.table.name} {most:g} channels; "
                             f"at most {MAX_CHANNELS}")
        self.memo[key] = value
        return value

    def symbolic(self, row: Row):
        """A symbolic ``out`` (``a*k``): the classes, the convention's anchors and the table's params."""
        value = 1
        for token in row.expr:
            value *= self.anchors[token] if token in self.anchors else int(token)
        if value > MAX_CHANNELS:
            raise UsageError(f"{self.table.where}: row {row.stage!r} would have {value} channels; at most {MAX_CHANNELS}")
        return value

    def resolve(self, ref: str, row: Row) -> _Tensor:
        if ref not in self.tensors:  # parse_table checked the name; a layer this configuration left out
            raise TableError(f"{self.table.where}: row {row.stage!r} (line {row.line}) reads {ref!r}, which this "
                             f"configuration does not have")
        return self.tensors[ref]

    def add(self, op, x, s, cout, groups=1, bn=False, act="", k=1, c_mid=0, suffix="", present=True,
            inputs=None, size=None, c0=None, args=None, bias=None, dilatable=True):
        """A layer of the current block reading ``x`` with stride ``s``; returns its output tensor. An
        absent layer (``present`` False) is not emitted: its name reads its input."""
        row, rate = self.row, x.rate
        if self.dilate and dilatable and s > 1 and x.stride * s > self.table.output_stride:
            s, rate = 1, x.rate * s  # DeepLab's output stride: the stride becomes a dilation
        h_out, w_out = self._out_size(op, x, s, size, args or {})
        name = f"{self.block}.{suffix}" if suffix else self.block
        out = _Tensor(name, cout, cout if c0 is None else c0, h_out, w_out,
                      size.stride if size is not None else x.stride * (s if self.ops[op].spatial != "one" else 1), rate)
        if np.ndim(present) == 0 and not present:
            self.tensors[name] = x  # absent: its name reads its input
            return x
        if len(self.layers) >= MAX_LAYERS:
            raise TableError(f"{self.table.name} expands to more than {MAX_LAYERS:,} layers (rows x repeats); "
                             "mnetcost costs networks up to that size")
        dilation = (row.dilation * (rate if self.dilate else 1)) if k > 1 else 1
        self.layers.append(_made(
            name=name, stage=row.stage, block=self.block, op=op, kernel=k, stride=s, groups=groups,
            c_in=x.c, c_out=cout, h_in=x.h, w_in=x.w, h_out=h_out, w_out=w_out, bn=bn,
            bias=(not bn if bias is None else bias) and self.ops[op].bias, act=act, c_mid=c_mid,
            present=present, inputs=tuple(inputs or (x.name,)), dilation=dilation, args=args or {},
            part=row.part, size_of=size.name if size is not None else "",
        ))
        self.tensors[name] = out
        return out

    def _out_size(self, op, x, s, size, args):
        """The output's size, as the op's spec says it follows the input (``spatial``)."""
        spatial = self.ops[op].spatial
        if spatial == "one":
            return np.ones_like(x.h), np.ones_like(x.h)
        if spatial == "grid":  # a fixed grid, whatever the input's size
            return np.full_like(x.h, args["grid"]), np.full_like(x.w, args["grid"])
        if size is not None:
            return size.h, size.w
        if spatial != "conv":
            return x.h, x.w
        return out_size(x.h, s, self.spatial), out_size(x.w, s, self.spatial)


def single(layers: list[Layer], index: int = 0) -> list[Layer]:
    """The layers of configuration ``index`` of an array expansion, with plain numbers for widths;
    an absent layer's readers read its input instead."""
    alias: dict[str, str] = {}
    out = []
    for l in layers:
        inputs = tuple(alias.get(t, t) for t in l.inputs)
        present = l.present
        if present is not True and not np.asarray(present).ravel()[index if np.size(present) > 1 else 0]:
            alias[l.name] = inputs[0]
            continue
        one = {k: _item(getattr(l, k), index) for k in ("c_in", "c_out", "c_mid", "groups")}
        out.append(_replace(l, present=True, inputs=inputs, size_of=alias.get(l.size_of, l.size_of), **one))
    return out


def _made(**fields) -> Layer:
    """A Layer of every field, without the frozen dataclass's ``__init__`` (a setattr per field: twice as slow;
    every layer of every expansion is made here)."""
    new = object.__new__(Layer)
    new.__dict__.update(fields)
    return new


def _replace(layer: Layer, **changes) -> Layer:
    """``dataclasses.replace`` for a Layer without re-running its ``__init__`` (the same fields; ten times faster:
    ``single`` runs once per layer and configuration)."""
    fields = {k: v for k, v in layer.__dict__.items() if k not in ("area_in", "area_out")}  # cached: made anew
    return _made(**{**fields, **changes})


def _item(x, index):
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return int(x)
    a = np.asarray(x).ravel()
    return int(a[index if a.size > 1 else 0])
