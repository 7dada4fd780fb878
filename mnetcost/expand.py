"""Expansion of table rows into primitive layers: the one place where widths, repeats, strides,
dilations, expansions, squeeze-excite, residuals and the tensors each layer reads are decided.

Primitive ops: ``conv`` (standard k x k, k > 1), ``pw`` (1x1 conv), ``dw`` (depthwise), ``se``
(squeeze-excite: global pool + two 1x1 FCs + channel scale), ``pool`` (global average pool),
``fc`` (fully connected / 1x1 conv on a 1x1 map), ``add`` (element-wise addition: residuals, merges),
``mul`` (element-wise product, broadcasting a 1x1 map), ``concat`` (channel concatenation),
``upsample`` (bilinear, to another tensor's size), ``norm`` (a BatchNorm alone), ``attn`` (the two
matmuls of multi-query attention), ``scale`` (layer scale), and any op a user registered.

Block rows: ``bneck`` (V2/V3 inverted residual), ``fused`` (V4's FusedIB: a k x k conv to the
expansion, a 1x1 projection), ``uib`` (V4's Universal Inverted Bottleneck: an optional start
depthwise conv, a 1x1 expansion, an optional middle depthwise conv, a 1x1 projection; the stride on
the middle one when it exists) and ``mqa`` (V4's Mobile MQA: input BatchNorm, query projection, keys
and values downsampled by a strided depthwise conv when kv_stride > 1, one key and one value head
shared by all query heads, output projection).

The expansion works on arrays: widths have one value per configuration (an array of alphas, or of
per-row multipliers), heights and widths one value per resolution. A layer that exists in only some
configurations (an expansion as wide as its input, a residual addition) carries a ``present`` mask.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .conventions import Rules
from .errors import TableError, UsageError
from .ops import Area
from .scaling import FACTOR_RULES, SQUEEZE_RULES, out_size, scale_width
from .tables import MAX_VALUE, Row, Table

MAX_CHANNELS = MAX_VALUE  # beyond any network; keeps every count inside 64-bit integers' reach
MAX_LAYERS = 10_000  # primitive layers one table may expand to (the largest shipped: about 230); keeps every command fast
NO_SPATIAL_CHANGE = ("se", "add", "mul", "concat", "norm", "scale")
NO_BIAS = ("pool", "add", "mul", "concat", "upsample", "norm", "attn", "scale")


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

    @property
    def area_in(self) -> Area:
        return Area(self.h_in * self.w_in)

    @property
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
           stage_alpha=None, switches=(), reduced_tail: bool = False, symbols=None) -> list[Layer]:
    """Unroll ``table`` into primitive layers, for configurations ``alpha`` (an array: one width
    multiplier each) or ``stage_alpha`` (configurations x table rows: a multiplier per row), at input
    heights ``h`` and widths ``w`` (arrays: one value per resolution).

    ``top=False`` drops the classifier top (the last pooling row and what follows), as Keras'
    ``include_top=False`` does; ``head=(320, 320)`` replaces it by ``head_rows``. ``switches``
    (``{"aux"}``) keeps the rows that exist only under them; ``reduced_tail`` halves the widths the
    table's ``# reduced-tail:`` line names (V3's RF2 and dagger variants); ``symbols`` sets the table's
    params (``{"f": 256}``)."""
    layers: list[Layer] = []
    tensors: dict[str, _Tensor] = {}
    image = _Tensor("input", np.full(np.shape(alpha), table.channels, dtype=float), table.channels, h, w)
    tensors["input"] = current = image
    row_alpha = alpha
    anchors = {**dict(table.params), **(symbols or {}), "k": classes, "a": rules.anchors, "a1": rules.anchors_first}

    def describe(a):
        return f"{a[0]:g}" if np.size(a) == 1 else "some configurations"

    memo: dict = {}  # a row's repeats share their widths: compute each once (arrays are costly)

    def width(role: str, c: float, x: _Tensor):
        rule = rules.width_rule(role)
        key = (rule, c, id(x.c), x.c0) if rule in FACTOR_RULES else (rule, c)
        if key in memo:
            return memo[key]
        value = memo[key] = np.broadcast_to(scale_width(rule, c, row_alpha, x.c, x.c0), np.shape(alpha))
        if np.any(value < 1):
            raise UsageError(f"alpha {describe(row_alpha)} leaves a layer of {table.name} with "
                             f"{np.min(value):g} channels (paper width {c})")
        if np.any(value > MAX_CHANNELS):
            raise UsageError(f"alpha {describe(row_alpha)} gives a layer of {table.name} {np.max(value):g} channels; "
                             f"at most {MAX_CHANNELS}")
        return value

    def symbolic(row: Row):
        value = 1
        for token in row.expr:
            value *= anchors[token] if token in anchors else int(token)
        if value > MAX_CHANNELS:
            raise UsageError(f"{table.name}: row {row.stage!r} would have {value} channels; at most {MAX_CHANNELS}")
        return value

    def resolve(ref: str, row: Row) -> _Tensor:
        if ref not in tensors:  # parse_table checked the name; a layer this configuration left out
            raise TableError(f"{table.name}: row {row.stage!r} (line {row.line}) reads {ref!r}, which this "
                             f"configuration does not have")
        return tensors[ref]

    def same_size(row: Row, xs, broadcast=False):
        big = max(xs, key=lambda x: np.max(x.h * x.w))
        for x in xs:
            fits = np.array_equal(x.h, big.h) and np.array_equal(x.w, big.w)
            if not fits and not (broadcast and np.all(x.h == 1) and np.all(x.w == 1)):
                raise TableError(f"{table.name}: row {row.stage!r} (line {row.line}) combines tensors of different "
                                 f"sizes: {x.name} and {big.name}")
        return big

    def same_width(row: Row, xs):
        for x in xs[1:]:
            if not np.array_equal(np.broadcast_to(x.c, np.shape(alpha)), np.broadcast_to(xs[0].c, np.shape(alpha))):
                error = TableError if x.c0 != xs[0].c0 else UsageError
                raise error(f"{table.name}: row {row.stage!r} (line {row.line}) combines {x.name} and {xs[0].name}, "
                            f"of different widths ({np.min(x.c):g} and {np.min(xs[0].c):g} channels)")

    for r_index, row in selected_rows(table, top, head, switches, reduced_tail):
        if stage_alpha is not None:
            row_alpha = stage_alpha[:, r_index] if r_index is not None and r_index < stage_alpha.shape[1] else 1.0
        memo.clear()
        sources = [resolve(ref, row) for ref in row.inputs] or [current]
        backbone = row.part == "backbone" and table.output_stride

        for i in range(row.n):
            stride = row.stride if i == 0 else 1
            block = row.stage if row.n == 1 else f"{row.stage}.{i + 1}"
            x = sources[0] if i == 0 else current
            block_input = x

            def add(op, x, s, cout, groups=1, bn=False, act="", k=1, c_mid=0, suffix="", present=True,
                    inputs=None, size=None, c0=None, args=None, bias=None, dilatable=True):
                rate = x.rate
                if backbone and dilatable and s > 1 and x.stride * s > table.output_stride:
                    s, rate = 1, x.rate * s  # DeepLab's output stride: the stride becomes a dilation
                if op in ("pool", "fc"):
                    h_out = w_out = np.ones_like(x.h)
                elif size is not None:
                    h_out, w_out = size.h, size.w
                elif op in NO_SPATIAL_CHANGE or op == "upsample":
                    h_out, w_out = x.h, x.w
                else:
                    h_out, w_out = out_size(x.h, s, spatial), out_size(x.w, s, spatial)
                name = f"{block}.{suffix}" if suffix else block
                out = _Tensor(name, cout, cout if c0 is None else c0, h_out, w_out,
                              size.stride if size is not None else x.stride * s if op not in ("pool", "fc") else x.stride,
                              rate)
                if np.ndim(present) == 0 and not present:
                    tensors[name] = x  # absent: its name reads its input
                    return x
                if len(layers) >= MAX_LAYERS:
                    raise TableError(f"{table.name} expands to more than {MAX_LAYERS:,} layers (rows x repeats); "
                                     "mnetcost costs networks up to that size")
                dilation = (row.dilation * (rate if backbone else 1)) if k > 1 else 1
                layers.append(Layer(
                    name=name, stage=row.stage, block=block, op=op, kernel=k, stride=s, groups=groups,
                    c_in=x.c, c_out=cout, h_in=x.h, w_in=x.w, h_out=h_out, w_out=w_out, bn=bn,
                    bias=(not bn if bias is None else bias) and op not in NO_BIAS,
                    act=act, c_mid=c_mid,
                    present=present, inputs=tuple(inputs or (x.name,)), dilation=dilation, args=args or {},
                    part=row.part, size_of=size.name if size is not None else "",
                ))
                tensors[name] = out
                return out

            def residual(p, out_s):
                """The block's output: ``p`` plus its input where stride and widths allow (and the row
                does not say no); an explicit residual that cannot apply is an error."""
                x = block_input
                fits = np.logical_and(p.h.shape == x.h.shape and np.array_equal(p.h, x.h), np.equal(x.c, out_s))
                if row.residual and not np.all(fits):
                    raise UsageError(f"{table.name}: the residual of row {row.stage!r} (line {row.line}) cannot apply at "
                                     f"alpha {describe(row_alpha)}: {np.min(x.c):g} -> {np.min(out_s):g} channels, "
                                     f"stride {stride}")
                if row.layer_scale:
                    p = add("scale", p, 1, out_s, suffix="scale", c0=row.out)
                if row.residual is False:
                    return p
                return add("add", p, 1, out_s, suffix="add", present=fits, inputs=(p.name, block_input.name), c0=row.out)

            def attention_block(x):
                """Mobile MQA: the attention widths are the row's settings, not scaled by alpha."""
                a = dict(row.args)
                heads, dk, dv, kv = a["heads"], a["key_dim"], a["value_dim"], a["kv_stride"]
                n = add("norm", x, 1, x.c, bn=row.bn, act="-", suffix="norm", c0=x.c0)
                q = add("pw", n, 1, heads * dk, bias=False, suffix="query", c0=heads * dk)
                kv_in = {}
                for part, d in (("key", dk), ("value", dv)):
                    # the output stride rewrites the block's main stride only, never kv_stride (timm's
                    # output_stride): the keys and values are still downsampled, at the block's dilation
                    down = n if kv == 1 else add("dw", n, kv, n.c, groups=n.c, bn=row.bn, bias=False, act="-",
                                                 k=row.kernel, suffix=f"{part}_down", c0=n.c0, dilatable=False)
                    kv_in[part] = add("pw", down, 1, d, bias=False, suffix=part, c0=d)
                k, v = kv_in["key"], kv_in["value"]
                att = add("attn", k, 1, heads * dv, size=q, inputs=(q.name, k.name, v.name), suffix="attn",
                          c0=heads * dv, args={"heads": heads, "key_dim": dk, "value_dim": dv})
                return add("pw", att, 1, width(row.width, row.out, x), bias=False, suffix="output", c0=row.out)

            def expansion():
                exp_0 = row.exp if row.exp is not None else row.t * x.c0
                return exp_0, width("expand", exp_0, x)

            if row.op == "conv":
                out_s = symbolic(row) if row.expr else width(row.width, row.out, x)
                out_0 = out_s if row.expr else row.out
                x = add("pw" if row.kernel == 1 else "conv", x, stride, out_s, bn=row.bn, act=row.nl, k=row.kernel, c0=out_0,
                        bias=row.bias)
            elif row.op == "dw":
                x = add("dw", x, stride, x.c, groups=x.c, bn=row.bn, act=row.nl, k=row.kernel, c0=x.c0, bias=row.bias)
            elif row.op == "dwsep":
                out_s = width(row.width, row.out, x)
                x = add("dw", x, stride, x.c, groups=x.c, bn=row.bn, act=row.nl, k=row.kernel, suffix="dw", c0=x.c0)
                x = add("pw", x, 1, out_s, bn=row.bn, act=row.nl, suffix="pw", c0=row.out)
            elif row.op == "bneck":
                out_s = width(row.width, row.out, x)
                exp_0 = row.exp if row.exp is not None else row.t * x.c0
                exp_s = width("expand", exp_0, x)
                # an expansion as wide as its input is left out (torchvision, TF-slim, Keras alike)
                e = add("pw", x, 1, exp_s, bn=row.bn, act=row.nl, suffix="expand", present=exp_s != x.c, c0=exp_0)
                d = add("dw", e, stride, exp_s, groups=exp_s, bn=row.bn, act=row.nl, k=row.kernel, suffix="dw", c0=exp_0)
                if row.se:
                    key = ("squeeze", id(exp_s), id(x.c))
                    squeeze = memo[key] if key in memo else memo.setdefault(key, SQUEEZE_RULES[rules.se_squeeze](exp_s, x.c))
                    d = add("se", d, 1, exp_s, c_mid=squeeze, suffix="se", c0=exp_0)
                p = add("pw", d, 1, out_s, bn=row.bn, act="-", suffix="project", c0=row.out)
                x = residual(p, out_s)
            elif row.op == "fused":
                out_s = width(row.width, row.out, x)
                exp_0, exp_s = expansion()
                e = add("conv", x, stride, exp_s, bn=row.bn, act=row.nl, k=row.kernel, suffix="expand", c0=exp_0)
                x = residual(add("pw", e, 1, out_s, bn=row.bn, act="-", suffix="project", c0=row.out), out_s)
            elif row.op == "uib":
                out_s = width(row.width, row.out, x)
                exp_0, exp_s = expansion()
                s = x
                if row.start:  # linear, and strided only when there is no middle depthwise conv
                    s = add("dw", x, 1 if row.kernel else stride, x.c, groups=x.c, bn=row.bn, act="-", k=row.start,
                            suffix="start", c0=x.c0)
                e = add("pw", s, 1, exp_s, bn=row.bn, act=row.nl, suffix="expand", c0=exp_0)
                if row.kernel:
                    e = add("dw", e, stride, exp_s, groups=exp_s, bn=row.bn, act=row.nl, k=row.kernel, suffix="dw",
                            c0=exp_0)
                x = residual(add("pw", e, 1, out_s, bn=row.bn, act="-", suffix="project", c0=row.out), out_s)
            elif row.op == "mqa":
                x = residual(attention_block(x), width(row.width, row.out, x))
            elif row.op == "pool":
                x = add("pool", x, 1, x.c, c0=x.c0)
            elif row.op == "fc":
                out_s = symbolic(row) if row.expr else width(row.width, row.out, x)
                if not (np.all(x.h == 1) and np.all(x.w == 1)):
                    raise TableError(f"{table.name}: fc row {row.stage!r} (line {row.line}) needs a 1x1 input; add a pool row before it")
                x = add("fc", x, 1, out_s, bn=row.bn, act=row.nl, c0=out_s if row.expr else row.out, bias=row.bias)
            elif row.op == "concat":
                big = same_size(row, sources)
                x = add("concat", big, 1, sum(np.broadcast_to(s.c, np.shape(alpha)) for s in sources),
                        inputs=row.inputs, c0=sum(s.c0 for s in sources))
            elif row.op in ("add", "mul"):
                same_width(row, sources)
                big = same_size(row, sources, broadcast=row.op == "mul")
                x = add(row.op, big, 1, big.c, act=row.nl, inputs=row.inputs, c0=big.c0)
            elif row.op == "upsample":
                target = image if row.size == "input" else resolve(row.size, row)
                x = add("upsample", x, 1, x.c, size=target, c0=x.c0)
            else:  # an op a user registered (parse_table admits no other)
                out_s = width(row.width, row.out, x) if row.out else x.c
                x = add(row.op, x, stride, out_s, bn=row.bn, act=row.nl, k=row.kernel, c0=row.out or x.c0,
                        args=dict(row.args))
            current = tensors[block] = x
        tensors[row.stage] = current
    return layers


def single(layers: list[Layer], index: int = 0) -> list[Layer]:
    """The layers of configuration ``index`` of an array expansion, with plain numbers for widths;
    an absent layer's readers read its input instead."""
    alias: dict[str, str] = {}
    out = []
    for l in layers:
        inputs = tuple(alias.get(t, t) for t in l.inputs)
        l = dataclasses.replace(l, size_of=alias.get(l.size_of, l.size_of))
        if not np.asarray(l.present).ravel()[index if np.size(l.present) > 1 else 0]:
            alias[l.name] = inputs[0]
            continue
        one = {k: _item(getattr(l, k), index) for k in ("c_in", "c_out", "c_mid", "groups")}
        out.append(dataclasses.replace(l, present=True, inputs=inputs, **one))
    return out


def _item(x, index):
    a = np.asarray(x).ravel()
    return int(a[index if a.size > 1 else 0])
