"""The cost of one training step: forward and backward mult-adds, trainable parameters, and the memory
a step needs (weights, gradients, optimizer state, what autograd keeps for the backward pass).

Freezing. ``freeze="backbone"`` freezes every layer that ``top=False`` keeps (Keras'
``base_model.trainable = False``; a head table's backbone, or the rows up to a table's own ``backbone-end``);
``freeze=N`` the first N blocks in the
order ``cost(...).by_block()`` lists them (the stem is block 1). A frozen layer that no trainable layer
precedes does no backward work and keeps nothing; a later layer's input "requires grad" once any
trainable layer lies upstream of it.

Two counts of the backward pass, both exact:

- **physical**: the multiply-adds a backward pass does. A layer whose input requires grad computes the
  input gradient (as many MACs as its forward); a layer with trainable weights computes the weight
  gradient (as many again). The first trainable layer, and the stem when everything is trained, compute
  no input gradient.
- **torch**: what ``torch.utils.flop_counter.FlopCounterMode`` reports: the same, except that its
  formula for a convolution's weight gradient ignores ``groups``, so a grouped convolution's weight
  gradient counts ``groups`` times its forward — a depthwise convolution's counts C times.

Saved bytes are what ``torch.autograd.graph.saved_tensors_hooks`` sees in a training step of the
convention's PyTorch modules (torchvision's for ``torchvision``; ``mnetcost.torch.build`` otherwise),
counted once per storage: a convolution keeps its input and weight; a Linear its input (if its weight
trains) and its weight (if its input requires grad); BatchNorm (train mode) its input, gamma, running
statistics and batch statistics; an in-place ReLU its result, an in-place ReLU6, h-swish or SiLU a copy
of its input, a sigmoid or hard-sigmoid its input (SE's out-of-place gate), GELU its input; the SE and
gate products both operands; dropout (CPU) a float noise tensor; the loss its log-softmax, the int64
targets and one scalar. Pooling, residual additions, concatenation and upsampling keep nothing. The V5
family's RMSNorm is counted by the same rule as a norm that keeps its input, its weight and one inverse
RMS per position; unlike the rest, that rule is not checked against PyTorch's hooks (timm's RmsNorm2d
may keep intermediates of its own).
"""

from __future__ import annotations

__all__ = ["training", "training_sweep", "Training"]  # the public API: the rest are the modules' own parts

from dataclasses import dataclass

import numpy as np

from .config import choice, configure, whole
from .engine import Cost, check_alphas, check_resolutions, cost_layers, grid_counts, narrow_ints, setup, trains
from .errors import UsageError
from .expand import top_start
from .ops import op_cost
from .traffic import dtype_bytes
from .vocab import MAX_VALUE, OPTIMIZER_STATE, OPTIMIZERS, OUT_OF_PLACE

COUNTS = ("physical", "torch")
# What an activation keeps for its backward pass: its result (in place, the tensor itself), a copy of
# its input (in place, a new tensor), or its input (out of place).
ACT_SAVES = {"RE": "result", "RE6": "copy", "HS": "copy", "SW": "copy", "GE": "input", "SIG": "result",
             "HSIG": "input"}


def check_freeze(freeze):
    """None, "backbone" or a whole number of blocks >= 0."""
    if freeze is None or freeze == "backbone":
        return freeze
    if isinstance(freeze, (bool, np.bool_)) or not isinstance(freeze, (int, np.integer)) or freeze < 0:
        raise UsageError(f"freeze must be 'backbone' or a whole number of blocks >= 0, got {freeze!r}")
    return int(freeze)


def frozen_blocks(s, blocks: list, freeze) -> set:
    """The names of the blocks ``freeze`` freezes, of ``blocks`` (in network order)."""
    if freeze is None or freeze == 0:
        return set()
    if freeze == "backbone":
        if s.table.backbone or any(part == "backbone" for _, part in blocks):  # a head table, or its own backbone-end
            return {b for b, part in blocks if part == "backbone"}
        kept = {row.stage for row in s.table.rows[:top_start(s.table)]}
        return {b for b, stage in ((b, b.partition(".")[0]) for b, _ in blocks) if stage in kept}
    names = list(dict.fromkeys(b for b, _ in blocks))
    if freeze > len(names):
        raise UsageError(f"--freeze {freeze}: {s.table.name} has {len(names)} blocks (see 'mnetcost table "
                         f"{s.table.name} --by block')")
    return set(names[:freeze])


def check_batch(batch):
    return whole(batch, "batch", high=MAX_VALUE)


def step_factors(layers, frozen: set, s):
    """Per layer: (input requires grad, weights trainable), the first as an array over configurations where
    upstream layers exist only in some (their ``present`` mask)."""
    rg = {"input": False}
    out = []
    for l in layers:
        x_rg = False
        for t in l.inputs:
            x_rg = np.logical_or(x_rg, rg.get(t, False))
        spec = s.ops[l.op]
        learns = spec.trains if spec.trains is not None else trains(l, s, op_cost(l, s.rules, s.ops).weights)
        trainable = l.block not in frozen and bool(np.all(learns))
        here = np.asarray(l.present, dtype=bool) if np.ndim(l.present) else bool(l.present)
        rg[l.name] = np.where(here, np.logical_or(x_rg, trainable), x_rg)
        out.append((x_rg, trainable))
    return out


def backward_parts(l, x_rg, trainable, s):
    """(input-gradient, physical weight-gradient, torch weight-gradient) multipliers of the layer's forward
    mult-adds: its op's ``backward`` facet."""
    return s.ops[l.op].facet("backward")(l, x_rg, trainable)


@dataclass
class Training:
    """One training step of one configuration: per-layer columns and totals, for the whole batch."""

    cost: Cost
    batch: int
    freeze: object
    optimizer: str
    dtype: str
    columns: dict
    totals: dict

    @property
    def layers(self):
        import pandas as pd

        return pd.DataFrame(self.columns)

    def by_block(self):
        """The columns summed per block (the units ``freeze=N`` counts), in network order."""
        df = self.layers.drop(columns=["name", "op"])
        g = df.groupby("block", sort=False).agg({c: ("all" if c == "frozen" else "sum") for c in df.columns if c != "block"})
        return narrow_ints(g, [c for c in g.columns if c != "frozen"])

    def __repr__(self):
        t = self.totals
        return (f"Training({self.cost.model!r}, alpha={self.cost.alpha:g}, resolution={self.cost.resolution}, "
                f"convention={self.cost.convention!r}, batch={self.batch}, freeze={self.freeze!r}: "
                f"forward {t['forward_macs']:,} MACs, backward {t['backward_macs']:,} (torch {t['backward_macs_torch']:,}), "
                f"trainable {t['trainable']:,} of {t['params']:,}, {t['training_bytes']:,} bytes)")


def training(model, config=None, *, freeze=None, batch: int = 1, dtype: str = "float32", optimizer: str = "sgd",
             **options) -> Training:
    """Forward and backward mult-adds (physical and torch's count), trainable parameters and the memory of
    one training step of ``batch`` images with a cross-entropy loss. The configuration is ``config`` or keyword
    options as for ``cost`` (the convention defaults to torchvision's)."""
    freeze, batch = check_freeze(freeze), check_batch(batch)
    choice(optimizer, "optimizer", OPTIMIZERS)
    size = dtype_bytes(dtype)
    r, layers, s = cost_layers(model, configure(config, {"convention": "torchvision"}, **options))
    frozen = frozen_blocks(s, [(l.block, l.part) for l in layers], freeze)
    c = r.columns
    factors = step_factors(layers, frozen, s)
    parts = [backward_parts(l, *f, s) for l, f in zip(layers, factors)]
    fwd, b_in, b_w, b_wt = (np.array([_times(p, m) * batch for p, m in zip(column, c["mult_adds"])], dtype=object)
                            for column in ([1] * len(parts), *zip(*parts)))
    trainable = np.array([0 if l.block in frozen else int(t) for l, t in zip(layers, c["trainable"])], dtype=object)
    saved = SavedBytes(r, layers, factors, frozen, batch, size, s).run()
    columns = {"name": c["name"], "block": c["block"], "op": c["op"],
               "frozen": np.array([l.block in frozen for l in layers]),
               "forward_macs": fwd, "backward_input_macs": b_in, "backward_weight_macs": b_w,
               "backward_weight_macs_torch": b_wt, "params": c["params"], "trainable": trainable,
               "saved_bytes": np.array(saved.by_layer, dtype=object)}
    return Training(r, batch, freeze, optimizer, dtype, columns, _totals(columns, saved, optimizer, size))


def _totals(c: dict, saved, optimizer: str, size: int) -> dict:
    """A training step's totals from its per-layer columns and saved tensors."""
    params, n_trainable = int(sum(c["params"])), int(sum(c["trainable"]))
    b_in, b_w, b_wt = (int(c[k].sum()) for k in ("backward_input_macs", "backward_weight_macs",
                                                    "backward_weight_macs_torch"))
    weights_bytes = (params + saved.buffer_elements) * size
    grads = n_trainable * size
    state = OPTIMIZER_STATE[optimizer] * n_trainable * size
    return {
        "params": params, "trainable": n_trainable, "frozen": params - n_trainable,
        "forward_macs": int(c["forward_macs"].sum()), "backward_macs": b_in + b_w, "backward_macs_torch": b_in + b_wt,
        "backward_input_macs": b_in, "backward_weight_macs": b_w, "backward_weight_macs_torch": b_wt,
        "saved_bytes": saved.total, "saved_activation_bytes": saved.activations,
        "saved_param_bytes": saved.params, "saved_buffer_bytes": saved.buffers, "saved_stat_bytes": saved.stats,
        "weight_bytes": weights_bytes, "gradient_bytes": grads, "optimizer_bytes": state,
        "training_bytes": weights_bytes + grads + state + saved.activations + saved.stats,
    }


def _times(factor, macs) -> int:
    """``factor`` x ``macs`` in exact integers: every backward factor is a whole number of halves (SE's two
    convolutions, torch's groups), and a float product would lose the last digits of a count past 2^53."""
    return int(round(2 * float(factor))) * int(macs) // 2


def _n(x) -> int:
    """A one-configuration size (a number or a one-element array) as an int."""
    return int(np.asarray(x).ravel()[0])


def training_sweep(model, alphas, resolutions, config=None, *, freeze=None, batch: int = 1, count: str = "physical",
                   **options):
    """Mult-adds of one training step (forward + backward, ``count`` "physical" or "torch") and the trainable
    parameters over an alpha x resolution grid, by the grid's one path: each layer's forward mult-adds
    weighted by its backward factors (a FLOP counter's other operations are not part of a training step's
    mult-adds, as in ``training``). Equal to ``training`` point by point. Returns a tidy DataFrame."""
    import pandas as pd

    freeze, batch = check_freeze(freeze), check_batch(batch)
    choice(count, "count", COUNTS)
    s = setup(model, configure(config, {"convention": "torchvision"}, **options))
    if s.config.stage_alpha is not None:
        raise UsageError("a training sweep takes alphas, not stage_alpha")

    def weigh(layers):
        frozen = frozen_blocks(s, [(l.block, l.part) for l in layers], freeze)
        out = []
        for l, (x_rg, trainable) in zip(layers, step_factors(layers, frozen, s)):
            back_in, back_w, back_wt = backward_parts(l, x_rg, trainable, s)
            out.append((batch * (1 + back_in + (back_wt if count == "torch" else back_w)), 0,
                        int(l.block not in frozen)))
        return out

    alphas, res = check_alphas(alphas), check_resolutions(s, resolutions)
    macs, _, trainable = grid_counts(s, alphas, res, weigh)
    return pd.DataFrame({"alpha": np.repeat(alphas, len(res)), "resolution": np.tile(res, macs.shape[0]),
                         "training_macs": macs.ravel(), "trainable": np.repeat(trainable, len(res))})


class SavedBytes:
    """What autograd keeps for the backward pass, storage by storage (see the module docstring): each layer's
    op spec says what it keeps (its ``saves`` facet), through ``keep``, ``new``, ``act`` and ``batchnorm``."""

    def __init__(self, r: Cost, layers, factors, frozen: set, batch: int, size: int, s):
        self.r, self.layers, self.frozen, self.batch, self.size, self.s = r, layers, frozen, batch, size, s
        self.rules, self.weights = r.rules, r.columns["weights"]
        self.x_rg, self.trainable = [f[0] for f in factors], [f[1] for f in factors]
        self.saved: dict = {}  # storage key -> (bytes, category, index of the layer that saved it first)
        self.store = {"input": "input"}  # tensor name -> storage key
        self.elements = {"input": r.channels * int(r.columns["h_in"][0]) * int(r.columns["w_in"][0]) if layers else 0}
        self.buffer_elements = sum(2 * l.c_out for l in layers if l.bn) if r.rules.bn_params == 2 else 0  # running stats
        self.by_layer = [0] * len(layers)
        # the classifier: the last fully connected layer (dropout comes before it)
        self.last_fc = max((i for i, l in enumerate(layers) if s.ops[l.op].spatial == "one" and s.ops[l.op].counted),
                           default=None)

    @staticmethod
    def n(x) -> int:
        return _n(x)

    def out_elements(self, l) -> int:
        return _n(l.c_out) * _n(l.h_out) * _n(l.w_out)

    def keep(self, i, key, elements, category="act", element_bytes=None):
        if key not in self.saved:
            b = int(elements) * self.batch * (element_bytes or self.size) if category == "act" else \
                int(elements) * (element_bytes or self.size)
            self.saved[key] = (b, category, i)
            self.by_layer[i] += b

    def new(self, name, key, elements):
        self.store[name], self.elements[key] = key, elements
        return key

    def act(self, i, l, key, elements):
        """The layer's activation on its output storage ``key``; returns the output's storage."""
        saves = ACT_SAVES.get(l.act)
        inplace = l.act not in OUT_OF_PLACE
        if saves == "result" and inplace:
            self.keep(i, key, elements)
            return key
        if saves == "copy":
            self.keep(i, f"{l.name}:copy", elements)
            return key
        if saves == "input":
            self.keep(i, key, elements)
            return f"{l.name}:act"
        if saves == "result":  # out of place
            self.keep(i, f"{l.name}:act", elements)
            return f"{l.name}:act"
        return key

    def batchnorm(self, i, l, key, elements, frozen):
        """A norm's saved tensors: BatchNorm (train mode) its input, gamma, running and batch statistics; the V5
        family's RMSNorm (one value per channel) its input, weight and the inverse RMS of each position."""
        self.keep(i, key, elements)
        self.keep(i, f"{l.name}:gamma", l.c_out, "param")
        if self.rules.bn_params == 1:
            self.keep(i, f"{l.name}:rms", elements // max(int(np.asarray(l.c_out).ravel()[0]), 1))
            return
        self.keep(i, f"{l.name}:running", 2 * l.c_out, "buffer")
        if not frozen:  # train mode: the batch mean and inverse standard deviation
            self.keep(i, f"{l.name}:stats", 2 * l.c_out, "stat")

    def run(self):
        for i, l in enumerate(self.layers):
            ins = [self.store.get(t, t) for t in l.inputs]
            if not (self.x_rg[i] or self.trainable[i]):  # no autograd node: nothing kept
                self.new(l.name, f"{l.name}:out", self.out_elements(l))
                continue
            key = self.s.ops[l.op].facet("saves")(self, i, l, ins, l.block in self.frozen)
            self.new(l.name, key, self.elements.get(key, self.out_elements(l)))
        if self.layers and self.saved:  # the loss: log-softmax, int64 targets, one scalar
            last = self.layers[-1]
            i = len(self.layers) - 1
            pixels = _n(last.h_out) * _n(last.w_out)
            self.keep(i, "loss:log_softmax", _n(last.c_out) * pixels)
            self.keep(i, "loss:target", pixels, element_bytes=8)
            self.keep(i, "loss:scalar", 1, "act_constant")
        return self

    def _sum(self, *categories):
        return sum(b for b, cat, _ in self.saved.values() if cat in categories)

    @property
    def total(self):
        return self._sum("act", "act_constant", "param", "buffer", "stat")

    @property
    def activations(self):
        return self._sum("act", "act_constant")

    @property
    def params(self):
        return self._sum("param")

    @property
    def buffers(self):
        return self._sum("buffer")

    @property
    def stats(self):
        return self._sum("stat")
