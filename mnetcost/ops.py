"""Op specs: one per primitive operator, holding every quantity the project computes for it.

A spec's facets (all but ``forward`` optional for a user's op):

- ``forward(layer, rules) -> OpCost``: multiply-accumulates, weight values, the biases the layer carries
  when it has biases (exactly when it has no BatchNorm), and what a FLOP counter counts besides
  mult-adds (pooling, interpolation, bias additions: the convention's per-element rules). BatchNorm and
  activations are counted for every op alike (``op_cost``).
- ``backward(layer, x_rg, trainable) -> (input, weight, weight_torch)``: the backward pass's mult-adds as
  multiples of the forward's: the input gradient (when the input requires grad), the weight gradient
  (when the weights train), and the weight gradient as torch's FlopCounterMode counts it. ``x_rg`` is a
  bool, or in a grid an array over configurations (a layer upstream may exist in only some).
- ``trains``: whether the op has trainable parameters (weights, or a BatchNorm's).
- ``saves(saver, i, layer, inputs, frozen) -> key``: what autograd keeps for the backward pass, through
  the saver of ``mnetcost.training`` (``keep``, ``new``, ``act``, ``batchnorm``); returns the storage key
  of the layer's output.
- ``latency(layer, out_elements, in_elements, macs) -> (mac class, [(term, count)])``: the layer's MAC
  class for a device model (``""`` without one) and its per-item and per-element terms
  (``mnetcost.latency``'s vocabulary).
- ``module(layer, rules) -> torch.nn.Module``: what ``mnetcost.torch.build`` makes for the layer.
- ``spatial``: how the output's size follows the input (``"conv"``: SAME-padded stride; ``"same"``;
  ``"one"``: 1 x 1; ``"resize"``: another tensor's size); ``bias``: whether the op can carry biases;
  ``memory``: its roles in the materialized schedule (``"stem"``: may stream into a block that starts
  with a depthwise conv; ``"depthwise"``; ``"pooling"``: consumes its input channel by channel);
  ``conv_like``: shown with kernel and stride; ``counted``: a layer in a network's layer count.

A quantity whose facet a spec lacks is an ``UnknownOp`` error naming the op and the quantity: it is never
counted as zero. Op sets are values (``Ops``): ``register_op`` returns a new set with the op added, to
pass as ``ops=`` to any entry point; nothing global is ever changed.

Widths are numbers, or arrays with one value per configuration; areas are ``Area`` values with one value
per resolution. A count that grows with an area is written as a product with it (``weights *
layer.area_out``); the engine keeps such ``Terms`` factorised, so one configuration and a sweep of
millions are the same code, and a term may carry any power of the area (``c * layer.area_out *
layer.area_in``). Formulas are the papers'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .errors import UnknownOp, UsageError
from .rows import ROW_TYPES


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

    def __neg__(self):
        return self * -1

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


FACETS = {"backward": "backward mult-adds (training)", "saves": "saved-for-backward bytes (training)",
          "latency": "latency terms (a device model)", "module": "a PyTorch module (verify, measure)",
          "trains": "whether its parameters train (training)"}
SPATIAL = ("conv", "same", "one", "resize", "grid")


@dataclass(frozen=True)
class OpSpec:
    name: str
    forward: Callable  # (layer, rules) -> OpCost
    label: str = ""  # the op family in breakdowns (V1 Table 2 names them this way)
    backward: Callable | None = None
    trains: bool | None = None
    saves: Callable | None = None
    latency: Callable | None = None
    module: Callable | None = None
    spatial: str = "conv"
    bias: bool = True
    memory: frozenset = frozenset()
    conv_like: bool = False
    counted: bool = False
    # (layer, rules) -> the words beside the op's name that tell which kernel a runtime picks for it (the
    # operator suite's sampling strata: a stratum is op, these words and the activation); None: none
    variant: Callable | None = None

    def facet(self, name: str):
        """The facet ``name``; a missing one is an error naming the op and the quantity it is needed for."""
        value = getattr(self, name)
        if value is None:
            raise UnknownOp(f"op {self.name!r} has no {name} facet: mnetcost cannot compute its {FACETS[name]} "
                            f"(give {name}= to register_op)")
        return value


# ---- forward: the papers' formulas ------------------------------------------------------------------------

def _bias_ops(layer, rules, area):
    """A FLOP counter's bias additions: one per output element of a layer with biases."""
    return rules.bias_ops * layer.c_out * area if layer.bias and rules.bias_ops else 0


def standard_conv(layer, rules):
    """D_K·D_K·M·N·D_F·D_F mult-adds, D_K·D_K·M·N weights (V1 paper, eq. 2); in G groups, each filter
    reads M/G channels: D_K·D_K·(M/G)·N·D_F·D_F mult-adds, D_K·D_K·(M/G)·N weights."""
    weights = layer.kernel * layer.kernel * (layer.c_in // layer.groups) * layer.c_out
    return OpCost(weights * layer.area_out, weights, layer.c_out, _bias_ops(layer, rules, layer.area_out))


def depthwise_conv(layer, rules):
    """D_K·D_K·M·D_F·D_F mult-adds, D_K·D_K·M weights: one k x k filter per channel (V1 paper, eq. 4)."""
    weights = layer.kernel * layer.kernel * layer.c_in
    return OpCost(weights * layer.area_out, weights, layer.c_in, _bias_ops(layer, rules, layer.area_out))


def pointwise_conv(layer, rules):
    """M·N·D_F·D_F mult-adds, M·N weights: a 1x1 conv (V1 paper, eq. 5, second term); in G groups
    (M/G)·N of each."""
    weights = (layer.c_in // layer.groups) * layer.c_out
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
    counts as mult-adds (fvcore counts 4 flops per output element); nearest-neighbour (``nearest=1``)
    copies, counted by no convention."""
    if layer.args.get("nearest"):
        return OpCost(0, 0, 0, 0)
    return OpCost(0, 0, 0, rules.upsample_out * layer.c_out * layer.area_out)


def grid_pool(layer, rules):
    """Down to a G x G grid: average pooling (additions, then a division per output element) where the
    input's size is a multiple of G, bilinear interpolation elsewhere; no mult-adds, no weights. What a
    FLOP counter counts follows its pooling and interpolation rules, resolution by resolution."""
    g = layer.args["grid"]
    pooled = (np.asarray(layer.h_in) % g == 0) & (np.asarray(layer.w_in) % g == 0)
    area_in = Area(np.where(pooled, np.asarray(layer.h_in * layer.w_in), 0))
    area_out = Area(np.where(pooled, 0, g * g))
    return OpCost(0, 0, 0, rules.pool_in * layer.c_in * area_in + rules.upsample_out * layer.c_out * area_out)


def batch_norm(layer, rules):
    """A BatchNorm on its own (the input norm of a MobileNetV4 attention block): no mult-adds; its
    parameters are the convention's BatchNorm values, counted for every layer alike."""
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
    return OpCost(macs, 0, other=0 if rules.attention else -macs)


def layer_scale(layer, rules):
    """A learned per-channel scale of a block's output (CaiT's LayerScale, in MobileNetV4's hybrids):
    C weights, and an element-wise product that no convention counts as mult-adds."""
    return OpCost(0, layer.c_out)


def no_arithmetic(layer, rules):
    """Element-wise addition or multiplication of tensors, or their concatenation: no mult-adds, no
    weights, and none of the conventions counts them."""
    return OpCost(0, 0, 0, 0)


# ---- backward: multiples of the forward mult-adds ---------------------------------------------------------

def _f(x):
    return np.asarray(x, dtype=float)


def weight_backward(layer, x_rg, trainable):
    """A convolution or FC: the input gradient costs its forward, the weight gradient as much again;
    torch's formula for a convolution's weight gradient ignores ``groups`` (a depthwise conv's counts C
    times its forward)."""
    w = float(trainable)
    return _f(x_rg), w, w * _f(layer.groups)


def se_backward(layer, x_rg, trainable):
    """fc1 then fc2, each half the forward; fc2's input requires grad once fc1 trains."""
    return (_f(x_rg) + np.logical_or(x_rg, trainable)) / 2, float(trainable), float(trainable)


def attention_backward(layer, x_rg, trainable):
    """QK^T and AV: a gradient for each operand that requires one."""
    return 2.0 * _f(x_rg), 0.0, 0.0


def no_backward(layer, x_rg, trainable):
    """No mult-adds forward, none backward."""
    return 0.0, 0.0, 0.0


# ---- saved for backward (see mnetcost.train) -----------------------------------------------------------

def conv_saves(sv, i, l, ins, frozen):
    """A convolution keeps its input and weight; then its BatchNorm and activation theirs."""
    out = sv.out_elements(l)
    sv.keep(i, ins[0], sv.elements.get(ins[0], 0))
    sv.keep(i, f"{l.name}:w", sv.weights[i], "param")
    key = f"{l.name}:conv"
    if l.bn and sv.rules.bn_params:
        sv.batchnorm(i, l, key, out, frozen)
        key = f"{l.name}:bn"
    sv.elements[key] = out
    return sv.act(i, l, key, out)


def fc_saves(sv, i, l, ins, frozen):
    """A Linear keeps its input (if its weight trains) and its weight (if its input requires grad); the
    framework's dropout before the classifier its noise. A BatchNorm'd FC is a 1x1 conv."""
    if l.bn:
        return conv_saves(sv, i, l, ins, frozen)
    x, x_rg, trainable = ins[0], sv.x_rg[i], sv.trainable[i]
    if i == sv.last_fc and sv.rules.dropout and not isinstance(sv.r.top, list):
        if x_rg:  # dropout's product keeps its noise only when its input needs a gradient
            sv.keep(i, f"{l.name}:noise", l.c_in)
        if sv.rules.dropout == "new":
            x = sv.new(f"{l.name}:dropped", f"{l.name}:dropped", l.c_in)
    if trainable:
        sv.keep(i, x, l.c_in)
    if x_rg:
        sv.keep(i, f"{l.name}:w", sv.weights[i], "param")
    sv.elements[f"{l.name}:out"] = l.c_out
    return sv.act(i, l, f"{l.name}:out", l.c_out)


def se_saves(sv, i, l, ins, frozen):
    """Squeeze-excite: the pooled vector, both FCs' weights and inputs, the gate, and the features."""
    c, mid, rules = l.c_in, l.c_mid, sv.rules
    sv.keep(i, f"{l.name}:pooled", c)
    sv.keep(i, f"{l.name}:w1", sv.weights[i] // 2, "param")
    if rules.se_act == "RE":
        sv.keep(i, f"{l.name}:squeezed", mid)  # ReLU, out of place: its result, fc2's input
    else:
        sv.keep(i, f"{l.name}:fc1", mid)  # SiLU, out of place: its input
        sv.keep(i, f"{l.name}:squeezed", mid)
    sv.keep(i, f"{l.name}:w2", sv.weights[i] // 2, "param")
    sv.keep(i, f"{l.name}:gate_in" if rules.se_gate == "HSIG" else f"{l.name}:gate", c)
    sv.keep(i, f"{l.name}:gate", c)  # the product keeps the gate ...
    sv.keep(i, ins[0], sv.elements.get(ins[0], 0))  # ... and the features
    return f"{l.name}:out"


def mul_saves(sv, i, l, ins, frozen):
    """A product keeps both operands."""
    for t in ins:
        sv.keep(i, t, sv.elements.get(t, 0))
    return f"{l.name}:out"


def norm_saves(sv, i, l, ins, frozen):
    sv.batchnorm(i, l, ins[0], sv.elements.get(ins[0], 0), frozen)
    return f"{l.name}:out"


def scale_saves(sv, i, l, ins, frozen):
    """Layer scale keeps its input and gamma."""
    sv.keep(i, ins[0], sv.elements.get(ins[0], 0))
    sv.keep(i, f"{l.name}:gamma", l.c_out, "param")
    return f"{l.name}:out"


def attention_saves(sv, i, l, ins, frozen):
    """The scaled queries, the keys, softmax's result (AV's operand) and the values."""
    q, k, v = ins
    a = l.args
    n_q, n_kv = sv.n(l.h_out) * sv.n(l.w_out), sv.n(l.h_in) * sv.n(l.w_in)
    sv.keep(i, f"{l.name}:q", a["heads"] * a["key_dim"] * n_q)
    sv.keep(i, k, sv.elements.get(k, 0))
    sv.keep(i, f"{l.name}:weights", a["heads"] * n_q * n_kv)
    sv.keep(i, v, sv.elements.get(v, 0))
    return f"{l.name}:out"


def keeps_nothing(sv, i, l, ins, frozen):
    """Pooling, additions, concatenation and upsampling keep nothing."""
    return f"{l.name}:out"


# ---- latency terms (see mnetcost.latency) -----------------------------------------------------------------

ALIGN = 8  # floats in an AVX2 register: depthwise convs whose channels miss it run channel by channel


def _unaligned(layer, width: int = ALIGN) -> bool:
    """Whether the layer's output channels (of any configuration) miss the runtime's ``width``-float blocks."""
    return bool(np.any(np.asarray(layer.c_out) % width))
ACT_TERMS = {"RE": "relu", "RE6": "relu6", "HS": "hswish", "SW": "silu", "GE": "gelu", "SIG": "sigmoid",
             "HSIG": "hsigmoid"}


def _act_term(layer, out):
    return [(ACT_TERMS[layer.act], out)] if layer.act in ACT_TERMS else []


def conv_latency(layer, out, inp, macs):
    """A convolution's class by its shape (a grouped conv with one group per channel is depthwise, a 1x1
    pointwise, a dilated dense one its own), its outputs written, unaligned depthwise channels, and its
    activation."""
    kind = layer.op
    if kind == "conv" and np.all(np.asarray(layer.groups) > 1) and np.array_equal(layer.groups, layer.c_in):
        kind = "dw"
    elif kind == "conv" and layer.kernel == 1:
        kind = "pw"
    terms = [(f"{kind}_out", out), (f"{kind}_in", inp)]
    if kind == "conv" and layer.dilation > 1:
        kind = "dilated"  # its own rate: the taps in the padding are counted, not computed
    if kind == "dw" and _unaligned(layer):
        terms += [("unaligned_dw", out), ("unaligned_dw_channels", np.asarray(layer.c_out, dtype=float) + 0 * out)]
    if kind == "dw" and _unaligned(layer, 2 * ALIGN):
        terms.append(("unaligned16_dw", out))  # an AVX-512 register holds 16 floats: its blocked kernels need 16
    return kind, terms + _act_term(layer, out)


def conv_variant(layer, rules):
    """A convolution's kernel and stride, a depthwise one's unaligned channels (another kernel), a dense
    one's dilation (the runtime skips the taps in the padding)."""
    unaligned = layer.op == "dw" and _unaligned(layer)
    dilated = layer.op == "conv" and layer.dilation > 1
    return (f"k{layer.kernel}", f"s{layer.stride}") + (("unaligned",) if unaligned else ()) + \
        (("dilated",) if dilated else ())


def se_variant(layer, rules):
    """Squeeze-excite's inner activation and gate, as the convention's family has them."""
    return (f"{rules.se_act}/{rules.se_gate}",)


def upsample_variant(layer, rules):
    """Its mode, and channels that miss the runtime's 8-channel blocks (another kernel and a reorder)."""
    unaligned = _unaligned(layer)
    return ("nearest" if layer.args.get("nearest") else "bilinear",) + (("unaligned",) if unaligned else ())


def fc_latency(layer, out, inp, macs):
    return "fc", _act_term(layer, out)


def se_latency(layer, out, inp, macs):
    """Squeeze-excite's 1x1s run at the FC rate; its pooling and rescaling per element; a block cost."""
    return "fc", [("se", out), ("se_block", 1.0)]


def attention_latency(layer, out, inp, macs):
    """The matmuls at their own rate; a cost per attention layer; softmax per score."""
    return "attn", [("attn_block", 1.0), ("softmax", macs / (layer.args["key_dim"] + layer.args["value_dim"]))]


def upsample_latency(layer, out, inp, macs):
    """Bilinear upsampling and nearest-neighbour copies: a cost per output element, each its own, and one
    more per element onto channels not a multiple of 8 (padded to the runtime's blocks, then reordered)."""
    unaligned = [("unaligned_upsample", out)] if _unaligned(layer) else []
    return "", [("nearest" if layer.args.get("nearest") else "upsample", out)] + unaligned + _act_term(layer, out)


def element_latency(term, per_input=False):
    """An op without MACs: a cost per element of its output (of its input for pooling)."""
    def latency(layer, out, inp, macs):
        return "", [(term, inp if per_input else out)] + _act_term(layer, out)
    latency.__doc__ = f"{term}: a cost per element"
    return latency


# ---- PyTorch modules (mnetcost.modules imports torch; only when a module is built) ------------------------

def _module(name):
    def build(layer, rules):
        from . import modules

        return getattr(modules, name)(layer, rules)
    build.__doc__ = f"mnetcost.modules.{name}"
    return build


# ---- the built-in set -------------------------------------------------------------------------------------

def _conv(name, forward, label):
    return OpSpec(name, forward, label, backward=weight_backward, trains=True, saves=conv_saves,
                  latency=conv_latency, module=_module("conv"), conv_like=True, counted=True,
                  memory=frozenset({"depthwise"} if name == "dw" else {"stem"}), variant=conv_variant)


def _shapeless(name, label, saves=keeps_nothing, term=None, module="merge", spatial="same", memory=frozenset()):
    return OpSpec(name, no_arithmetic, label, backward=no_backward, trains=False, saves=saves,
                  latency=element_latency(term or name), module=_module(module), spatial=spatial, bias=False,
                  memory=memory)


BUILTIN_SPECS = (
    _conv("conv", standard_conv, "standard conv"),
    _conv("pw", pointwise_conv, "pointwise (1x1) conv"),
    _conv("dw", depthwise_conv, "depthwise conv"),
    OpSpec("fc", fully_connected, "fully connected", backward=weight_backward, trains=True, saves=fc_saves,
           latency=fc_latency, module=_module("fc"), spatial="one", counted=True),
    OpSpec("se", squeeze_excite, "squeeze-excite", backward=se_backward, trains=True, saves=se_saves,
           latency=se_latency, module=_module("se"), spatial="same", variant=se_variant),
    replace(_shapeless("pool", "pooling", module="pool", spatial="one", memory=frozenset({"pooling"})),
            forward=global_pool, latency=element_latency("pool", per_input=True)),
    _shapeless("add", "element-wise add"),
    _shapeless("mul", "element-wise multiply", saves=mul_saves),
    _shapeless("concat", "concatenation"),
    replace(_shapeless("upsample", "upsampling", module="upsample", spatial="resize"), forward=upsample,
            latency=upsample_latency, variant=upsample_variant),
    replace(_shapeless("gridpool", "pooling to a grid", module="gridpool", spatial="grid"), forward=grid_pool,
            latency=element_latency("gridpool", per_input=True)),
    replace(_shapeless("norm", "batchnorm", saves=norm_saves, module="norm"), forward=batch_norm, trains=True),
    OpSpec("attn", attention, "attention matmuls", backward=attention_backward, trains=False,
           saves=attention_saves, latency=attention_latency, module=_module("attention"), spatial="resize",
           bias=False),
    replace(_shapeless("scale", "layer scale", saves=scale_saves, module="scale"), forward=layer_scale,
            trains=True),
)


class Ops(Mapping):
    """A set of op specs by name: the built-in ones and any a user added. Immutable: ``with_op`` returns a
    new set, so one analysis's ops never leak into another's."""

    def __init__(self, specs=()):
        self._specs = {s.name: s for s in specs}

    def __getitem__(self, name) -> OpSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownOp(f"no op {name!r}; known ops: {', '.join(self._specs)} (a user's op is registered with "
                            f"mnetcost.register_op and passed as ops=)") from None

    def __contains__(self, name):
        return name in self._specs

    def get(self, name, default=None):
        return self._specs.get(name, default)

    def __iter__(self):
        return iter(self._specs)

    def __len__(self):
        return len(self._specs)

    def __hash__(self):
        return hash(tuple(self._specs.items()))

    def __eq__(self, other):
        return isinstance(other, Ops) and self._specs == other._specs

    def __repr__(self):
        return f"Ops({', '.join(self._specs)})"

    @property
    def custom(self) -> tuple:
        """The names of the ops a user added (worked out once: the set never changes)."""
        if self.__dict__.get("_custom") is None:
            self._custom = tuple(n for n in self._specs if n not in BUILTIN)
        return self._custom

    def with_op(self, spec: OpSpec) -> "Ops":
        if not isinstance(spec, OpSpec):
            raise UsageError(f"an op is an OpSpec, got {type(spec).__name__}")
        if spec.name in BUILTIN or spec.name in ROW_TYPES:
            raise UsageError(f"op {spec.name!r} is built in and cannot be replaced")
        return Ops([*self._specs.values(), spec])


BUILTIN = Ops(BUILTIN_SPECS)


def register_op(name: str, forward: Callable, *, label: str | None = None, backward: Callable | None = None,
                trains: bool | None = None, saves: Callable | None = None, latency: Callable | None = None,
                module: Callable | None = None, variant: Callable | None = None, ops: Ops | None = None) -> Ops:
    """A new op set: ``ops`` (the built-in set by default) with the op ``name`` added. A table row whose
    ``op`` is ``name`` expands to one layer of that op, with its ``args`` column (``heads=4``) as
    ``layer.args``, its ``out`` width (or its input's), its kernel and stride. Pass the returned set as
    ``ops=`` to ``cost``, ``grid``, ``memory``, ``roofline``, ``training``, ``verify``, ``fit``... Facets
    left out make the quantities that need them an error (see the module docstring); built-in ops cannot
    be replaced."""
    if not isinstance(name, str) or not name.isidentifier():
        raise UsageError(f"an op name is an identifier, got {name!r}")
    for facet, value in (("forward", forward), ("backward", backward), ("saves", saves), ("latency", latency),
                         ("module", module), ("variant", variant)):
        if value is not None and not callable(value):
            raise UsageError(f"the {facet} facet of op {name!r} must be callable")
    if forward is None:
        raise UsageError(f"op {name!r} needs a forward cost function")
    if trains is not None and not isinstance(trains, bool):
        raise UsageError(f"trains must be True or False, got {trains!r}")
    spec = OpSpec(name, forward, label or name, backward=backward, trains=trains, saves=saves, latency=latency,
                  module=module, counted=True, variant=variant)
    return (BUILTIN if ops is None else check_ops(ops)).with_op(spec)


def check_ops(ops) -> Ops:
    if ops is None:
        return BUILTIN
    if not isinstance(ops, Ops):
        raise UsageError(f"ops must be an op set (mnetcost.register_op returns one), got {type(ops).__name__}")
    return ops


def _count(value, op, what):
    """A count a cost function returned, checked: numbers (or arrays, or area terms) >= 0."""
    values = [coef for _, coef in value.items.values()] if isinstance(value, Terms) else [value]
    for v in values:
        a = np.asarray(v)
        if a.dtype.kind not in "iuf" or not np.all(np.isfinite(a)):
            raise UsageError(f"the cost function of op {op!r} returned {what} that are not finite numbers")
    return value


def op_cost(layer, rules, ops: Ops = BUILTIN) -> OpCost:
    """The op's own counts plus what the convention counts for BatchNorm and activations; a convention
    that counts nothing besides mult-adds gets ``other`` 0, whatever the op returned."""
    spec = ops[layer.op]
    c = spec.forward(layer, rules)
    if not isinstance(c, OpCost):
        raise UsageError(f"the cost function of op {layer.op!r} must return an OpCost, got {type(c).__name__}")
    if spec.name in ops.custom:
        _checked_user_cost(c, layer.op)
    if not rules.counts_other_ops:
        other = as_terms(0)
    else:
        other = as_terms(c.other)
        if layer.bn and (rules.bn_ops or rules.bn_ops_channel):
            other = other + rules.bn_ops * layer.c_out * layer.area_out + rules.bn_ops_channel * layer.c_out
        if rules.act_ops.get(layer.act, 0):
            other = other + rules.act_ops[layer.act] * layer.c_out * layer.area_out
    return OpCost(as_terms(c.macs), c.weights, c.biases if layer.bias else 0, other)


def _checked_user_cost(c: OpCost, op: str):
    """A user's cost function may not return negative or non-finite counts."""
    for what in ("macs", "weights", "biases"):
        value = _count(getattr(c, what), op, what)
        coefs = [coef for _, coef in value.items.values()] if isinstance(value, Terms) else [value]
        if any(np.any(np.asarray(v) < 0) for v in coefs):
            raise UsageError(f"the cost function of op {op!r} returned negative {what}")
    _count(c.other, op, "other operations")
