"""One pure cost function per primitive op, in a registry open to users (``register_op``).

A cost function receives the whole primitive layer (``expand.Layer``: its widths, kernel, groups,
op-specific ``args``, and its input and output areas) and the convention's ``Rules``, and returns an
``OpCost``: multiply-accumulates, weight values, the bias values the layer carries if it has biases
(it does exactly when it has no BatchNorm), and what a FLOP counter counts besides mult-adds for this
op (pooling, bilinear interpolation, bias additions: each convention's per-element rules). BatchNorm
and activations are counted for every op alike, by the engine.

Widths are numbers, or arrays with one value per configuration; areas are ``Area`` values with one
value per resolution. A count that grows with an area is written as a product with it
(``weights * layer.area_out``); the engine keeps such ``Terms`` factorised, so one configuration and
a sweep of millions are the same code, and a term may carry any power of the area
(``c * layer.area_out * layer.area_in``). Formulas are the papers'. An op without a cost function
raises ``UnknownOp``: it is never counted as zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import UnknownOp, UsageError


class Area:
    """A spatial factor: one value per resolution (an area, or a product of areas)."""

    __array_ufunc__ = None  # numpy defers to our operators: array * Area -> Terms
    __slots__ = ("values", "_key")

    def __init__(self, values):
        self.values = np.asarray(values)
        self._key = None

    @property
    def key(self):
        if self._key is None:
            self._key = "1" if self.values.ndim == 0 and self.values == 1 else self.values.tobytes()
        return self._key

    def __mul__(self, other):
        if isinstance(other, Area):
            return Area(self.values * other.values)
        if isinstance(other, Terms):
            return other * self
        return Terms({self.key: (self, other)})

    __rmul__ = __mul__


ONE = Area(1)


class Terms:
    """A count as a sum of (per-configuration coefficient) x (per-resolution Area) terms."""

    __array_ufunc__ = None
    __slots__ = ("items",)

    def __init__(self, items: dict):
        self.items = items  # Area key -> (Area, coefficient)

    def __add__(self, other):
        items = dict(self.items)
        for key, (area, coef) in as_terms(other).items.items():
            items[key] = (area, items[key][1] + coef) if key in items else (area, coef)
        return Terms(items)

    __radd__ = __add__

    def __mul__(self, other):
        if isinstance(other, Area):
            out = Terms({})
            for area, coef in self.items.values():
                out = out + (area * other) * coef
            return out
        return Terms({key: (area, coef * other) for key, (area, coef) in self.items.items()})

    __rmul__ = __mul__

    def value(self):
        """The count itself: configurations x resolutions (broadcast from each term)."""
        return sum(np.multiply.outer(np.asarray(coef), area.values) for area, coef in self.items.values())


def as_terms(x) -> Terms:
    """A count without an area (a number or per-configuration array) is the constant term."""
    return x if isinstance(x, Terms) else Terms({ONE.key: (ONE, x)})


@dataclass(frozen=True)
class OpCost:
    macs: object  # multiply-accumulates: Terms, or a number/array without an area
    weights: object
    biases: object = 0
    other: object = 0  # what the convention's FLOP counter adds for this op (Terms or number)


@dataclass(frozen=True)
class OpSpec:
    name: str
    cost: Callable  # (layer, rules) -> OpCost
    label: str  # the op family in breakdowns (V1 Table 2 names them this way)


def _bias_ops(layer, rules, area):
    """A FLOP counter's bias additions: one per output element of a layer with biases."""
    return rules.bias_ops * layer.c_out * area if layer.bias and rules.bias_ops else 0


def standard_conv(layer, rules):
    """D_K·D_K·M·N·D_F·D_F mult-adds, D_K·D_K·M·N weights (V1 paper, eq. 2)."""
    weights = layer.kernel * layer.kernel * layer.c_in * layer.c_out
    return OpCost(weights * layer.area_out, weights, layer.c_out, _bias_ops(layer, rules, layer.area_out))


def depthwise_conv(layer, rules):
    """D_K·D_K·M·D_F·D_F mult-adds, D_K·D_K·M weights: one k x k filter per channel (V1 paper, eq. 4)."""
    weights = layer.kernel * layer.kernel * layer.c_in
    return OpCost(weights * layer.area_out, weights, layer.c_in, _bias_ops(layer, rules, layer.area_out))


def pointwise_conv(layer, rules):
    """M·N·D_F·D_F mult-adds, M·N weights: a 1x1 conv (V1 paper, eq. 5, second term)."""
    weights = layer.c_in * layer.c_out
    return OpCost(weights * layer.area_out, weights, layer.c_out, _bias_ops(layer, rules, layer.area_out))


def fully_connected(layer, rules):
    """M·N mult-adds and weights on a 1x1 input; N biases."""
    weights = layer.c_in * layer.c_out
    return OpCost(weights, weights, layer.c_out, _bias_ops(layer, rules, 1))


def squeeze_excite(layer, rules):
    """Two FCs C -> C/r -> C on the pooled vector: 2·C·(C/r) mult-adds and weights, C/r + C biases
    (V3 paper, Section 5.3). The pooling and the channel scale are not mult-adds; a FLOP counter
    counts the pooling, the inner activation on the squeezed vector, the gate and the biases."""
    weights = 2 * layer.c_out * layer.c_mid
    acts = rules.act_ops.get(rules.se_act, 0) * layer.c_mid + rules.act_ops.get(rules.se_gate, 0) * layer.c_out
    pool = rules.se_pool_in * layer.c_in * layer.area_in + rules.se_pool_out * layer.c_in
    bias = rules.bias_ops * (layer.c_mid + layer.c_out) if layer.bias else 0
    return OpCost(weights, weights, layer.c_mid + layer.c_out, pool + acts + bias)


def global_pool(layer, rules):
    """Average pooling: additions and one division per channel, no mult-adds, no weights."""
    return OpCost(0, 0, 0, rules.pool_in * layer.c_in * layer.area_in + rules.pool_out * layer.c_out)


def upsample(layer, rules):
    """Bilinear interpolation: four weighted reads per output element, which no paper or framework
    counts as mult-adds (fvcore counts 4 flops per output element)."""
    return OpCost(0, 0, 0, rules.upsample_out * layer.c_out * layer.area_out)


def batch_norm(layer, rules):
    """A BatchNorm on its own (the input norm of a MobileNetV4 attention block): no mult-adds; its
    parameters are the convention's BatchNorm values, counted by the engine as for every layer."""
    return OpCost(0, 0, 0, 0)


def attention(layer, rules):
    """Multi-query attention's two matmuls, QK^T and AV: heads·N_q·N_kv·(d_k + d_v) mult-adds, where
    N_q is the query tokens (the output area) and N_kv the key/value tokens (the input area): a count
    that grows with the product of two areas, the square of the resolution's. The projections are
    the layer's neighbours (1x1 convs); softmax and the 1/sqrt(d_k) scale are not mult-adds. A
    convention with ``attention`` 0 reports them as 0 (torch's FlopCounterMode on timm's fused CPU
    attention): the mult-adds stay, the convention's extra ops take them away."""
    a = layer.args
    macs = a["heads"] * (a["key_dim"] + a["value_dim"]) * layer.area_out * layer.area_in
    return OpCost(macs, 0, other=0 if rules.attention else -1 * macs)  # a counter that reports them as 0


def layer_scale(layer, rules):
    """A learned per-channel scale of a block's output (CaiT's LayerScale, in MobileNetV4's hybrids):
    C weights, and an element-wise product that no convention counts as mult-adds."""
    return OpCost(0, layer.c_out)


def no_arithmetic(layer, rules):
    """Element-wise addition or multiplication of tensors, or their concatenation: no mult-adds, no
    weights, and none of the conventions counts them."""
    return OpCost(0, 0, 0, 0)


BUILTIN = {
    "conv": OpSpec("conv", standard_conv, "standard conv"),
    "pw": OpSpec("pw", pointwise_conv, "pointwise (1x1) conv"),
    "dw": OpSpec("dw", depthwise_conv, "depthwise conv"),
    "fc": OpSpec("fc", fully_connected, "fully connected"),
    "se": OpSpec("se", squeeze_excite, "squeeze-excite"),
    "pool": OpSpec("pool", global_pool, "pooling"),
    "add": OpSpec("add", no_arithmetic, "element-wise add"),
    "mul": OpSpec("mul", no_arithmetic, "element-wise multiply"),
    "concat": OpSpec("concat", no_arithmetic, "concatenation"),
    "upsample": OpSpec("upsample", upsample, "bilinear upsampling"),
    "norm": OpSpec("norm", batch_norm, "batchnorm"),
    "attn": OpSpec("attn", attention, "attention matmuls"),
    "scale": OpSpec("scale", layer_scale, "layer scale"),
}
REGISTRY: dict[str, OpSpec] = dict(BUILTIN)


def register_op(name: str, cost: Callable, *, label: str | None = None) -> None:
    """Add an op: ``cost(layer, rules) -> OpCost``. A table row whose ``op`` is ``name`` then expands
    to one layer of that op, with its ``args`` column (``heads=4; kv_stride=2``) as ``layer.args``,
    its ``out`` width (or its input's), its kernel and stride. Built-in ops cannot be replaced."""
    if not isinstance(name, str) or not name.isidentifier():
        raise UsageError(f"an op name is an identifier, got {name!r}")
    from .tables import ROW_OPS

    if name in BUILTIN or name in ROW_OPS:
        raise UsageError(f"op {name!r} is built in and cannot be replaced")
    if not callable(cost):
        raise UsageError(f"the cost function of op {name!r} must be callable")
    REGISTRY[name] = OpSpec(name, cost, label or name)
    from .tables import _load

    _load.cache_clear()  # tables read before may name the new op


def op_spec(op: str) -> OpSpec:
    try:
        return REGISTRY[op]
    except KeyError:
        raise UnknownOp(f"no cost function for op {op!r}; known ops: {', '.join(REGISTRY)}") from None


def op_cost(layer, rules) -> OpCost:
    """The op's own counts plus what the convention counts for BatchNorm and activations."""
    c = op_spec(layer.op).cost(layer, rules)
    if not isinstance(c, OpCost):
        raise UsageError(f"the cost function of op {layer.op!r} must return an OpCost, got {type(c).__name__}")
    other = as_terms(c.other)
    if layer.bn and (rules.bn_ops or rules.bn_ops_channel):
        other = other + rules.bn_ops * layer.c_out * layer.area_out + rules.bn_ops_channel * layer.c_out
    if rules.act_ops.get(layer.act, 0):
        other = other + rules.act_ops[layer.act] * layer.c_out * layer.area_out
    return OpCost(as_terms(c.macs), c.weights, c.biases if layer.bias else 0, other)
