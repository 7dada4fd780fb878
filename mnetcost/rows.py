"""Row types: what each table op's row holds and the layers it expands to, in one place per op.

A row type says which columns its row takes and checks what is particular to it (``tables.parse_table``
asks it); names the layers inside each of its blocks and which of them run before the block's stride
(what a ``from`` column may name, and at which stride: ``tables`` reads these, ``build`` emits exactly
these names); and emits its layers (``expand.expand`` calls ``build`` with its builder, which scales
widths and keeps the tensors). One class per op, registered in ``ROW_TYPES`` in the tables' order
(timm's ``_efficientnet_builder`` decodes and builds a block type in the same spirit); an op a user
registered with ``mnetcost.register_op`` is a ``Custom`` row: one layer of that op.

Block rows: ``bneck`` (V2/V3 inverted residual), ``fused`` (V4's FusedIB: a k x k conv to the
expansion, a 1x1 projection), ``uib`` (V4's Universal Inverted Bottleneck: an optional start
depthwise conv, a 1x1 expansion, an optional middle depthwise conv, a 1x1 projection; the stride on
the middle one when it exists) and ``mqa`` (V4's Mobile MQA: input BatchNorm, query projection, keys
and values downsampled by a strided depthwise conv when kv_stride > 1, one key and one value head
shared by all query heads, output projection).
"""

from __future__ import annotations

import numpy as np

from .errors import TableError, UsageError
from .scaling import SQUEEZE_RULES
from .vocab import MAX_VALUE
MAX_LAYERS = 10_000  # primitive layers one table may expand to (the largest shipped: about 230); keeps every command fast
MQA_ARGS = {"heads": None, "key_dim": None, "value_dim": "key_dim", "kv_stride": 1}  # name -> default


class RowType:
    """A row op. The class attributes say what its row takes; ``check`` adds the op's own rules,
    ``sketch`` what a reference to it reads before expansion, ``build`` the layers of one block."""

    op = ""
    kernel = None  # the kernel when its column is blank; None: the column is required
    kernel_optional = False  # a blank kernel means the row has no such conv (uib, mqa)
    out = "width"  # "width": a positive width; "symbols": or a product of symbols (k, a, a1, params);
    #                "input": keeps its input's width (out blank); "either": a width, or blank to keep it
    merge = False  # reads two or more tensors
    repeats = True  # n may exceed 1
    bn = False  # BatchNorm when the bn column is blank
    columns = frozenset()  # the op-specific columns it takes: start, t, exp, se, bias, residual, layer_scale, dilation, args
    suffixes = ()  # the layers of each block, named block.suffix; () = one layer named as the block
    least = 1  # layers every block of the row emits, whatever its columns (the table's layer count from its rows)

    def early(self, row) -> tuple:
        """The layers of a block that run before its stride (at its input's resolution)."""
        return ()

    def check_reads(self, inputs, bad):
        if self.merge and len(inputs) < 2:
            bad("from", f"a {self.op} row reads two or more tensors, e.g. \"a,b\"")
        elif not self.merge and len(inputs) > 1:
            bad("from", f"a {self.op} row reads one tensor")

    def check(self, fields: dict, bad, clean: bool):
        """The op's own rules on the parsed ``fields`` (which it may complete); ``clean``: no problem yet."""

    def sketch(self, row, sources, names) -> tuple:
        """(width at paper scale or None where the configuration decides, stride) of the row's output, from
        its sources' (width, stride) pairs and the (width, stride) of every name read so far."""
        width, stride = sources[0][0], max(s for _, s in sources)
        if self.out != "input" and (row.out or row.width == "classes"):
            width = row.out or None  # classes rows: known only at expansion
        return width, stride

    def build(self, b, row, x, stride):
        """Emit one block's layers through builder ``b``, reading tensor ``x``; return its output tensor."""
        raise NotImplementedError(self.op)


class Conv(RowType):
    """A standard k x k conv (k = 1: pointwise); ``args`` ``groups=G`` splits it into G groups, each
    reading C_in/G channels and writing C_out/G. G is the row's setting, never scaled by alpha: both
    widths must divide by it in every configuration."""

    op, out, bn, columns = "conv", "symbols", True, frozenset({"bias", "dilation", "args"})

    def check(self, fields, bad, clean):
        args = dict(fields["args"])
        g = args.get("groups", 1)
        if set(args) - {"groups"} or not isinstance(g, int) or not 0 < g <= MAX_VALUE:
            bad("args", "a conv row takes groups=G (a positive whole number) or nothing")
        elif isinstance(fields.get("out"), int) and fields["out"] % g:
            bad("args", f"groups={g} does not divide the row's out width {fields['out']}")

    def build(self, b, row, x, stride):
        out_s = b.symbolic(row) if row.expr else b.width(row.width, row.out, x)
        g = dict(row.args).get("groups", 1)
        if g > 1 and (np.any(np.asarray(x.c) % g) or np.any(np.asarray(out_s) % g)):
            raise TableError(f"{b.table.where}: row {row.stage!r} (line {row.line}) has groups={g}, which does not "
                             f"divide its {int(np.min(x.c))} -> {int(np.min(out_s))} channels in every configuration")
        return b.add("pw" if row.kernel == 1 else "conv", x, stride, out_s, groups=g, bn=row.bn, act=row.nl,
                     k=row.kernel, c0=out_s if row.expr else row.out, bias=row.bias)


class Dw(RowType):
    op, out, bn, columns = "dw", "input", True, frozenset({"bias", "dilation"})

    def build(self, b, row, x, stride):
        return b.add("dw", x, stride, x.c, groups=x.c, bn=row.bn, act=row.nl, k=row.kernel, c0=x.c0, bias=row.bias)


class Dwsep(RowType):
    """A V1 layer: a depthwise k x k conv with the stride, then a pointwise 1x1 conv."""

    op, bn, columns, suffixes = "dwsep", True, frozenset({"dilation"}), ("dw", "pw")
    least = 2

    def build(self, b, row, x, stride):
        out_s = b.width(row.width, row.out, x)
        x = b.add("dw", x, stride, x.c, groups=x.c, bn=row.bn, act=row.nl, k=row.kernel, suffix="dw", c0=x.c0)
        return b.add("pw", x, 1, out_s, bn=row.bn, act=row.nl, suffix="pw", c0=row.out)


class Block(RowType):
    """A row with a residual: its output plus its input where stride and widths allow."""

    bn = True

    def finish(self, b, row, p, out_s, x, stride):
        """The block's output: ``p`` plus its input ``x`` where stride and widths allow (and the row does
        not say no); an explicit residual that cannot apply is an error."""
        fits = np.logical_and(p.h.shape == x.h.shape and np.array_equal(p.h, x.h), np.equal(x.c, out_s))
        if row.residual and not np.all(fits):
            raise UsageError(f"{b.table.where}: the residual of row {row.stage!r} (line {row.line}) cannot apply at "
                             f"alpha {b.describe()}: {np.min(x.c):g} -> {np.min(out_s):g} channels, stride {stride}")
        if row.layer_scale:
            p = b.add("scale", p, 1, out_s, suffix="scale", c0=row.out)
        if row.residual is False:
            return p
        return b.add("add", p, 1, out_s, suffix="add", present=fits, inputs=(p.name, x.name), c0=row.out)


class Expanding(Block):
    """A block with an expansion: t (a factor of the input's paper width) or exp (a width)."""

    def check(self, fields, bad, clean):
        if fields["t"] is None and fields["exp"] is None and clean:
            bad("t", f"a {self.op} row needs an expansion: t (factor) or exp (width)")
        if fields["t"] is not None and fields["exp"] is not None:
            bad("exp", "give t or exp, not both")

    @staticmethod
    def expansion(b, row, x):
        """(paper, scaled) expansion width: t multiplies the input's paper width, before any rounding."""
        exp_0 = row.exp if row.exp is not None else row.t * x.c0
        return exp_0, b.width("expand", exp_0, x)


class Bneck(Expanding):
    """V2/V3's inverted residual: 1x1 expansion, k x k depthwise with the stride, squeeze-excite, linear
    1x1 projection, residual."""

    op, columns = "bneck", frozenset({"t", "exp", "se", "residual", "dilation"})
    suffixes = ("expand", "dw", "se", "project", "add")
    least = 2  # dw, project

    def early(self, row):
        return ("expand",)

    def build(self, b, row, x, stride):
        out_s = b.width(row.width, row.out, x)
        exp_0, exp_s = self.expansion(b, row, x)
        # an expansion as wide as its input is left out (torchvision, TF-slim, Keras alike)
        e = b.add("pw", x, 1, exp_s, bn=row.bn, act=row.nl, suffix="expand", present=exp_s != x.c, c0=exp_0)
        d = b.add("dw", e, stride, exp_s, groups=exp_s, bn=row.bn, act=row.nl, k=row.kernel, suffix="dw", c0=exp_0)
        if row.se:  # the squeeze width is the convention's rule for the family (of the expansion or the input)
            key = ("squeeze", id(exp_s), id(x.c))
            squeeze = b.memo[key] if key in b.memo else b.memo.setdefault(key, SQUEEZE_RULES[b.rules.se_squeeze](exp_s, x.c))
            d = b.add("se", d, 1, exp_s, c_mid=squeeze, suffix="se", c0=exp_0)
        p = b.add("pw", d, 1, out_s, bn=row.bn, act="-", suffix="project", c0=row.out)
        return self.finish(b, row, p, out_s, x, stride)


class Fused(Expanding):
    """V4's FusedIB: a k x k conv to the expansion with the stride, a linear 1x1 projection."""

    op, columns = "fused", frozenset({"t", "exp", "residual", "layer_scale"})
    suffixes = ("expand", "project", "scale", "add")
    least = 2  # expand, project

    def build(self, b, row, x, stride):
        out_s = b.width(row.width, row.out, x)
        exp_0, exp_s = self.expansion(b, row, x)
        e = b.add("conv", x, stride, exp_s, bn=row.bn, act=row.nl, k=row.kernel, suffix="expand", c0=exp_0)
        return self.finish(b, row, b.add("pw", e, 1, out_s, bn=row.bn, act="-", suffix="project", c0=row.out), out_s, x, stride)


class Uib(Expanding):
    """V4's Universal Inverted Bottleneck: ``start`` (depthwise, linear), ``expand`` (1x1), ``dw`` (the
    middle depthwise conv, ``kernel``), ``project`` (1x1, linear). The stride sits on the middle depthwise
    conv when there is one, else on the start one."""

    op, kernel_optional = "uib", True
    columns = frozenset({"start", "t", "exp", "residual", "layer_scale"})
    suffixes = ("start", "expand", "dw", "project", "scale", "add")
    least = 2  # expand, project

    def early(self, row):
        return ("start", "expand") if row.kernel else ("expand",) if not row.start else ()

    def check(self, fields, bad, clean):
        super().check(fields, bad, clean)
        stride = fields["stride"]
        if stride is not None and stride > 1 and fields["kernel"] is None and fields["start"] is None:
            bad("stride", "a strided uib row needs a depthwise conv (start or kernel) to carry the stride")

    def build(self, b, row, x, stride):
        out_s = b.width(row.width, row.out, x)
        exp_0, exp_s = self.expansion(b, row, x)
        s = x
        if row.start:  # linear, and strided only when there is no middle depthwise conv
            s = b.add("dw", x, 1 if row.kernel else stride, x.c, groups=x.c, bn=row.bn, act="-", k=row.start,
                      suffix="start", c0=x.c0)
        e = b.add("pw", s, 1, exp_s, bn=row.bn, act=row.nl, suffix="expand", c0=exp_0)
        if row.kernel:
            e = b.add("dw", e, stride, exp_s, groups=exp_s, bn=row.bn, act=row.nl, k=row.kernel, suffix="dw", c0=exp_0)
        return self.finish(b, row, b.add("pw", e, 1, out_s, bn=row.bn, act="-", suffix="project", c0=row.out), out_s, x, stride)


class Mqa(Block):
    """V4's Mobile MQA. The attention widths are the row's settings (``args``), not scaled by alpha."""

    op, kernel_optional = "mqa", True
    columns = frozenset({"args", "residual", "layer_scale"})
    suffixes = ("norm", "query", "key_down", "key", "value_down", "value", "attn", "output", "scale", "add")
    least = 6  # norm, query, key, value, attn, output

    def early(self, row):
        return ("norm", "query", "key_down", "value_down")

    def check(self, fields, bad, clean):
        if clean:
            fields["args"] = mqa_args(dict(fields["args"]), fields["kernel"], bad)
        if fields["stride"] != 1:
            bad("stride", "an mqa row keeps its input's size (its keys and values are downsampled by kv_stride)")

    def build(self, b, row, x, stride):
        a = dict(row.args)
        heads, dk, dv, kv = a["heads"], a["key_dim"], a["value_dim"], a["kv_stride"]
        n = b.add("norm", x, 1, x.c, bn=row.bn, act="-", suffix="norm", c0=x.c0)
        q = b.add("pw", n, 1, heads * dk, bias=False, suffix="query", c0=heads * dk)
        kv_in = {}
        for part, d in (("key", dk), ("value", dv)):
            # the output stride rewrites the block's main stride only, never kv_stride (timm's
            # output_stride): the keys and values are still downsampled, at the block's dilation
            down = n if kv == 1 else b.add("dw", n, kv, n.c, groups=n.c, bn=row.bn, bias=False, act="-",
                                           k=row.kernel, suffix=f"{part}_down", c0=n.c0, dilatable=False)
            kv_in[part] = b.add("pw", down, 1, d, bias=False, suffix=part, c0=d)
        k, v = kv_in["key"], kv_in["value"]
        att = b.add("attn", k, 1, heads * dv, size=q, inputs=(q.name, k.name, v.name), suffix="attn",
                    c0=heads * dv, args={"heads": heads, "key_dim": dk, "value_dim": dv})
        out_s = b.width(row.width, row.out, x)
        p = b.add("pw", att, 1, out_s, bias=False, suffix="output", c0=row.out)
        return self.finish(b, row, p, out_s, x, stride)


class Pool(RowType):
    op, kernel, out, repeats = "pool", 1, "input", False

    def build(self, b, row, x, stride):
        return b.add("pool", x, 1, x.c, c0=x.c0)


class Fc(RowType):
    op, kernel, out, repeats, columns = "fc", 1, "symbols", False, frozenset({"bias"})

    def build(self, b, row, x, stride):
        out_s = b.symbolic(row) if row.expr else b.width(row.width, row.out, x)
        if not (np.all(x.h == 1) and np.all(x.w == 1)):
            raise TableError(f"{b.table.where}: fc row {row.stage!r} (line {row.line}) needs a 1x1 input; add a pool row before it")
        return b.add("fc", x, 1, out_s, bn=row.bn, act=row.nl, c0=out_s if row.expr else row.out, bias=row.bias)


class Merge(RowType):
    """A row that reads two or more tensors of one size (the ``from`` column)."""

    kernel, out, merge, repeats = 1, "input", True, False

    @staticmethod
    def same_size(b, row, xs, broadcast=False):
        big = max(xs, key=lambda x: np.max(x.h * x.w))
        for x in xs:
            fits = np.array_equal(x.h, big.h) and np.array_equal(x.w, big.w)
            if not fits and not (broadcast and np.all(x.h == 1) and np.all(x.w == 1)):
                raise TableError(f"{b.table.where}: row {row.stage!r} (line {row.line}) combines tensors of different "
                                 f"sizes: {x.name} and {big.name}")
        return big


class Concat(Merge):
    op = "concat"

    def sketch(self, row, sources, names):
        width = None if any(w is None for w, _ in sources) else sum(w for w, _ in sources)
        return width, max(s for _, s in sources)

    def build(self, b, row, x, stride):
        big = self.same_size(b, row, b.sources)
        return b.add("concat", big, 1, sum(np.broadcast_to(s.c, b.shape) for s in b.sources),
                     inputs=tuple(s.name for s in b.sources), c0=sum(s.c0 for s in b.sources))


class Add(Merge):
    op = "add"

    def build(self, b, row, x, stride):
        xs = b.sources
        for y in xs[1:]:
            if not np.array_equal(np.broadcast_to(y.c, b.shape), np.broadcast_to(xs[0].c, b.shape)):
                error = TableError if y.c0 != xs[0].c0 else UsageError  # the table's widths, or alpha's rounding
                raise error(f"{b.table.where}: row {row.stage!r} (line {row.line}) combines {y.name} and {xs[0].name}, "
                            f"of different widths ({np.min(y.c):g} and {np.min(xs[0].c):g} channels)")
        big = self.same_size(b, row, xs, broadcast=self.op == "mul")
        return b.add(self.op, big, 1, big.c, act=row.nl, inputs=tuple(x.name for x in xs), c0=big.c0)


class Mul(Add):
    """An element-wise product of two tensors; a 1x1 map broadcasts (a squeeze-excite gate)."""

    op = "mul"

    def check_reads(self, inputs, bad):
        super().check_reads(inputs, bad)
        if len(inputs) > 2:
            bad("from", "a mul row multiplies two tensors")


class Upsample(RowType):
    """Bilinear (or, with ``args`` ``nearest=1``, nearest-neighbour), to the height and width of the tensor
    the ``size`` column names."""

    op, kernel, out, repeats, columns = "upsample", 1, "input", False, frozenset({"args"})

    def check(self, fields, bad, clean):
        args = dict(fields["args"])
        if set(args) - {"nearest"} or args.get("nearest", 1) not in (0, 1):
            bad("args", "an upsample row takes nearest=1 (nearest-neighbour) or nothing (bilinear)")

    def sketch(self, row, sources, names):
        return sources[0][0], names.get(row.size, (None, 1))[1]

    def build(self, b, row, x, stride):
        target = b.image if row.size == "input" else b.resolve(row.size, row)
        return b.add("upsample", x, 1, x.c, size=target, c0=x.c0, args=dict(row.args))


class Norm(RowType):
    """A norm on its own (the convention's: BatchNorm, or RMSNorm in the V5 family), with the row's
    activation: MobileNetV5's fusion adapter ends with one."""

    op, kernel, out, repeats, bn = "norm", 1, "input", False, True

    def build(self, b, row, x, stride):
        return b.add("norm", x, 1, x.c, bn=True, act=row.nl, c0=x.c0)


class GridPool(RowType):
    """Down to a fixed G x G grid (``args`` ``grid=G``) whatever the input's size: average pooling with kernel
    and stride the ratio when the input's height and width are multiples of G, bilinear interpolation
    otherwise (MobileNetV5's multi-scale fusion adapter, timm ``MobileNetV5MultiScaleFusionAdapter``)."""

    op, kernel, out, repeats, columns = "gridpool", 1, "input", False, frozenset({"args"})

    def check(self, fields, bad, clean):
        args = dict(fields["args"])
        if set(args) != {"grid"} or not isinstance(args["grid"], int) or not 0 < args["grid"] <= MAX_VALUE:
            bad("args", "a gridpool row takes grid=G, a whole number of pixels")

    def build(self, b, row, x, stride):
        return b.add("gridpool", x, 1, x.c, c0=x.c0, args=dict(row.args))


class Custom(RowType):
    """An op a user registered: one layer of it, with its row's width (or its input's), kernel, stride and args."""

    kernel, out, columns = 1, "either", frozenset({"args"})

    def __init__(self, op: str):
        self.op = op

    def build(self, b, row, x, stride):
        out_s = b.width(row.width, row.out, x) if row.out else x.c
        return b.add(row.op, x, stride, out_s, bn=row.bn, act=row.nl, k=row.kernel, c0=row.out or x.c0, args=dict(row.args))


ROW_TYPES = {t.op: t for t in (Conv(), Dw(), Dwsep(), Bneck(), Fused(), Uib(), Mqa(), Pool(), Fc(), Concat(), Add(),
                               Mul(), Upsample(), Norm(), GridPool())}


def row_type(op: str) -> RowType:
    """The row type of ``op``: a built-in one, or a ``Custom`` row (``parse_table`` admits only registered ops)."""
    kind = ROW_TYPES.get(op)
    return kind if kind is not None else Custom(op)


def taking(column: str) -> tuple:
    """The built-in row ops whose rows take ``column``, in the tables' order."""
    return tuple(op for op, kind in ROW_TYPES.items() if column in kind.columns)


def mqa_args(args: dict, kernel, bad) -> tuple:
    """An mqa row's attention settings, checked and completed: heads, key_dim, value_dim (default
    key_dim), kv_stride (default 1; above 1 the keys and values pass a strided depthwise conv of
    ``kernel``)."""
    unknown = set(args) - set(MQA_ARGS)
    if unknown:
        bad("args", f"an mqa row takes {', '.join(MQA_ARGS)}; unknown: {', '.join(sorted(unknown))}")
        return ()
    for name, default in MQA_ARGS.items():
        value = args.get(name, args.get(default) if isinstance(default, str) else default)
        if value is None:
            bad("args", f"an mqa row needs {name}=N")
            return ()
        if not isinstance(value, int) or value < 1:
            bad("args", f"{name} must be a positive whole number")
            return ()
        args[name] = value
    if args["heads"] * max(args["key_dim"], args["value_dim"]) > MAX_VALUE:
        bad("args", f"heads x key_dim and heads x value_dim must be at most {MAX_VALUE}")
        return ()
    if args["kv_stride"] > 1 and kernel is None:
        bad("kernel", "an mqa row with kv_stride > 1 needs the kernel of its key/value downsampling")
    return tuple((name, args[name]) for name in MQA_ARGS)
