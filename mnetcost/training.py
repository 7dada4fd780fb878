"""The cost of one training step: forward and backward mult-adds, trainable parameters, and the memory
a step needs (weights, gradients, optimizer state, what autograd keeps for the backward pass).

Freezing. ``freeze="backbone"`` freezes every layer that ``top=False`` keeps (Keras'
``base_model.trainable = False``; a head table's backbone); ``freeze=N`` the first N blocks in the
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
targets and one scalar. Pooling, residual additions, concatenation and upsampling keep nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .engine import Cost, cost_layers, narrow_ints, setup
from .errors import UsageError
from .expand import top_start
from .tables import MAX_VALUE, OUT_OF_PLACE
from .traffic import dtype_bytes

from .vocab import OPTIMIZER_STATE  # noqa: E402  (values kept per trainable parameter; shared with the CLI)
WEIGHT_OPS = ("conv", "pw", "dw", "fc", "se")
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
        if s.table.backbone:
            return {b for b, part in blocks if part == "backbone"}
        kept = {row.stage for row in s.table.rows[:top_start(s.table)]}
        return {b for b, stage in ((b, b.partition(".")[0]) for b, _ in blocks) if stage in kept}
    names = list(dict.fromkeys(b for b, _ in blocks))
    if freeze > len(names):
        raise UsageError(f"--freeze {freeze}: {s.table.name} has {len(names)} blocks (see 'mnetcost table "
                         f"{s.table.name} --by block')")
    return set(names[:freeze])


def check_batch(batch):
    if isinstance(batch, (bool, np.bool_)) or not isinstance(batch, (int, np.integer)) or not 1 <= batch <= MAX_VALUE:
        raise UsageError(f"batch must be a whole number from 1 to {MAX_VALUE}, got {batch!r}")
    return int(batch)


def step_factors(layers, frozen: set):
    """Per layer: (input requires grad, weights trainable, the convolution's groups), the first as an array over
    configurations where upstream layers exist only in some (their ``present`` mask)."""
    rg = {"input": False}
    out = []
    for l in layers:
        x_rg = False
        for t in l.inputs:
            x_rg = np.logical_or(x_rg, rg.get(t, False))
        trainable = l.block not in frozen and l.op in WEIGHT_OPS + ("norm", "scale")
        here = np.asarray(l.present, dtype=bool) if np.ndim(l.present) else bool(l.present)
        rg[l.name] = np.where(here, np.logical_or(x_rg, trainable), x_rg)
        groups = l.groups if l.op in ("conv", "pw", "dw") else 1
        out.append((x_rg, trainable, groups))
    return out


def backward_parts(l, x_rg, trainable, groups):
    """(input-gradient, physical weight-gradient, torch weight-gradient) multipliers of the layer's
    forward mult-adds."""
    if l.op == "se":  # fc1 then fc2, each half the forward; fc2's input requires grad once fc1 trains
        return (np.asarray(x_rg, dtype=float) + np.logical_or(x_rg, trainable)) / 2, float(trainable), float(trainable)
    if l.op == "attn":  # QK^T and AV: a gradient for each operand that requires one
        return 2.0 * np.asarray(x_rg, dtype=float), 0.0, 0.0
    if l.op in WEIGHT_OPS:
        w = float(trainable)
        return np.asarray(x_rg, dtype=float), w, w * np.asarray(groups, dtype=float)
    return 0.0, 0.0, 0.0


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


def training(model, *, alpha: float = 1.0, rho=None, resolution=None, convention="torchvision", classes=None,
             top=True, head=None, freeze=None, batch: int = 1, dtype: str = "float32", optimizer: str = "sgd",
             aux=False, reduced_tail=False, symbols=None) -> Training:
    """Forward and backward mult-adds (physical and torch's count), trainable parameters and the memory of
    one training step of ``batch`` images with a cross-entropy loss."""
    freeze, batch = check_freeze(freeze), check_batch(batch)
    if optimizer not in OPTIMIZER_STATE:
        raise UsageError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZER_STATE)}")
    size = dtype_bytes(dtype)
    r, layers, s = cost_layers(model, alpha=alpha, rho=rho, resolution=resolution, convention=convention,
                               classes=classes, top=top, head=head, aux=aux, reduced_tail=reduced_tail, symbols=symbols)
    frozen = frozen_blocks(s, [(l.block, l.part) for l in layers], freeze)
    c = r.columns
    factors = step_factors(layers, frozen)
    parts = [backward_parts(l, *f) for l, f in zip(layers, factors)]
    fwd, b_in, b_w, b_wt = (np.array([_times(p, m) * batch for p, m in zip(column, c["mult_adds"])], dtype=object)
                            for column in ([1] * len(parts), *zip(*parts)))
    trainable = np.array([0 if l.block in frozen else int(t) for l, t in zip(layers, c["trainable"])], dtype=object)
    saved = SavedBytes(r, layers, factors, frozen, batch, size).run()
    params, n_trainable = int(sum(c["params"])), int(sum(trainable))
    weights_bytes = (params + saved.buffer_elements) * size
    grads = n_trainable * size
    state = OPTIMIZER_STATE[optimizer] * n_trainable * size
    totals = {
        "params": params, "trainable": n_trainable, "frozen": params - n_trainable,
        "forward_macs": int(fwd.sum()), "backward_macs": int(b_in.sum() + b_w.sum()),
        "backward_macs_torch": int(b_in.sum() + b_wt.sum()), "backward_input_macs": int(b_in.sum()),
        "backward_weight_macs": int(b_w.sum()), "backward_weight_macs_torch": int(b_wt.sum()),
        "saved_bytes": saved.total, "saved_activation_bytes": saved.activations,
        "saved_param_bytes": saved.params, "saved_buffer_bytes": saved.buffers, "saved_stat_bytes": saved.stats,
        "weight_bytes": weights_bytes, "gradient_bytes": grads, "optimizer_bytes": state,
        "training_bytes": weights_bytes + grads + state + saved.activations + saved.stats,
    }
    columns = {"name": c["name"], "block": c["block"], "op": c["op"],
               "frozen": np.array([l.block in frozen for l in layers]),
               "forward_macs": fwd, "backward_input_macs": b_in, "backward_weight_macs": b_w,
               "backward_weight_macs_torch": b_wt, "params": c["params"], "trainable": trainable,
               "saved_bytes": np.array(saved.by_layer, dtype=object)}
    return Training(r, batch, freeze, optimizer, dtype, columns, totals)


def _times(factor, macs) -> int:
    """``factor`` x ``macs`` in exact integers: every backward factor is a whole number of halves (SE's two
    convolutions, torch's groups), and a float product would lose the last digits of a count past 2^53."""
    return int(round(2 * float(factor))) * int(macs) // 2


def _n(x) -> int:
    """A one-configuration size (a number or a one-element array) as an int."""
    return int(np.asarray(x).ravel()[0])


def training_sweep(model, alphas, resolutions, *, convention="torchvision", classes=None, top=True, head=None,
                   freeze=None, batch: int = 1, count: str = "physical", aux=False, reduced_tail=False, symbols=None):
    """Mult-adds of one training step (forward + backward, ``count`` "physical" or "torch") and the trainable
    parameters over an alpha x resolution grid, by the sweep's one vectorised path: each layer's forward
    count weighted by its backward factors. Equal to ``training`` point by point. Returns a tidy DataFrame."""
    import pandas as pd

    from .engine import check_resolutions, grid

    freeze, batch = check_freeze(freeze), check_batch(batch)
    if count not in ("physical", "torch"):
        raise UsageError(f"count must be 'physical' or 'torch', got {count!r}")
    s = setup(model, convention, classes, "exact", top, head, aux, reduced_tail, symbols)

    def weigh(layers):
        frozen = frozen_blocks(s, [(l.block, l.part) for l in layers], freeze)
        out = []
        for l, f in zip(layers, step_factors(layers, frozen)):
            back_in, back_w, back_wt = backward_parts(l, *f)
            out.append((batch * (1 + back_in + (back_wt if count == "torch" else back_w)),
                        int(l.block not in frozen)))
        return out

    res = check_resolutions(s.table, resolutions, "exact")
    macs, trainable = grid(model, alphas, res, convention=convention, classes=classes, top=top, head=head,
                           aux=aux, reduced_tail=reduced_tail, symbols=symbols, weigh=weigh)
    if s.rules.bn_trainable != s.rules.bn_params:  # Keras: the moving statistics are parameters, never trainable
        import dataclasses

        rules = dataclasses.replace(s.rules, bn_params=s.rules.bn_trainable)
        trainable = grid(model, alphas, res[:1], convention=rules, classes=classes, top=top, head=head, aux=aux,
                         reduced_tail=reduced_tail, symbols=symbols, weigh=weigh)[1]
    a = np.repeat(np.atleast_1d(np.asarray(alphas, dtype=float)), len(res))
    return pd.DataFrame({"alpha": a, "resolution": np.tile(res, macs.shape[0]), "training_macs": macs.ravel(),
                         "trainable": np.repeat(trainable, len(res))})


class SavedBytes:
    """What autograd keeps for the backward pass, storage by storage (see the module docstring)."""

    def __init__(self, r: Cost, layers, factors, frozen: set, batch: int, size: int):
        self.r, self.layers, self.factors, self.frozen, self.batch, self.size = r, layers, factors, frozen, batch, size
        self.saved: dict = {}  # storage key -> (bytes, category, index of the layer that saved it first)
        self.store = {"input": "input"}  # tensor name -> storage key
        self.elements = {"input": r.channels * int(r.columns["h_in"][0]) * int(r.columns["w_in"][0]) if layers else 0}
        self.buffer_elements = sum(2 * l.c_out for l in layers if l.bn) if r.rules.bn_params == 2 else 0  # running stats
        self.by_layer = [0] * len(layers)

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
        self.keep(i, key, elements)
        self.keep(i, f"{l.name}:gamma", l.c_out, "param")
        self.keep(i, f"{l.name}:running", 2 * l.c_out, "buffer")
        if not frozen:  # train mode: the batch mean and inverse standard deviation
            self.keep(i, f"{l.name}:stats", 2 * l.c_out, "stat")

    def run(self):
        r, rules = self.r, self.r.rules
        weights = r.columns["weights"]
        last_fc = max((i for i, l in enumerate(self.layers) if l.op == "fc"), default=None)
        for i, (l, (x_rg, trainable, _)) in enumerate(zip(self.layers, self.factors)):
            frozen = l.block in self.frozen
            ins = [self.store.get(t, t) for t in l.inputs]
            out_elements = _n(l.c_out) * _n(l.h_out) * _n(l.w_out)
            if not (x_rg or trainable):  # no autograd node: nothing kept
                self.new(l.name, f"{l.name}:out", out_elements)
                continue
            x = ins[0]
            if l.op in ("conv", "pw", "dw") or (l.op == "fc" and l.bn):
                self.keep(i, x, self.elements.get(x, 0))
                self.keep(i, f"{l.name}:w", weights[i], "param")
                key = f"{l.name}:conv"
                if l.bn and rules.bn_params:
                    self.batchnorm(i, l, key, out_elements, frozen)
                    key = f"{l.name}:bn"
                self.elements[key] = out_elements
                self.new(l.name, self.act(i, l, key, out_elements), out_elements)
            elif l.op == "fc":
                if i == last_fc and rules.dropout and not isinstance(r.top, list):
                    if x_rg:  # dropout's product keeps its noise only when its input needs a gradient
                        self.keep(i, f"{l.name}:noise", l.c_in)
                    if rules.dropout == "new":
                        x = self.new(f"{l.name}:dropped", f"{l.name}:dropped", l.c_in)
                if trainable:
                    self.keep(i, x, l.c_in)
                if x_rg:
                    self.keep(i, f"{l.name}:w", weights[i], "param")
                self.elements[f"{l.name}:out"] = l.c_out
                self.new(l.name, self.act(i, l, f"{l.name}:out", l.c_out), l.c_out)
            elif l.op == "se":
                c, mid = l.c_in, l.c_mid
                self.keep(i, f"{l.name}:pooled", c)
                w1 = w2 = weights[i] // 2
                self.keep(i, f"{l.name}:w1", w1, "param")
                if rules.se_act == "RE":
                    self.keep(i, f"{l.name}:squeezed", mid)  # ReLU, out of place: its result, fc2's input
                else:
                    self.keep(i, f"{l.name}:fc1", mid)  # SiLU, out of place: its input
                    self.keep(i, f"{l.name}:squeezed", mid)
                self.keep(i, f"{l.name}:w2", w2, "param")
                self.keep(i, f"{l.name}:gate_in" if rules.se_gate == "HSIG" else f"{l.name}:gate", c)
                self.keep(i, f"{l.name}:gate", c)  # the product keeps the gate ...
                self.keep(i, x, self.elements.get(x, 0))  # ... and the features
                self.new(l.name, f"{l.name}:out", out_elements)
            elif l.op == "mul":
                for t in ins:
                    self.keep(i, t, self.elements.get(t, 0))
                self.new(l.name, f"{l.name}:out", out_elements)
            elif l.op == "norm":
                self.batchnorm(i, l, x, self.elements.get(x, 0), frozen)
                self.new(l.name, f"{l.name}:out", out_elements)
            elif l.op == "scale":
                self.keep(i, x, self.elements.get(x, 0))
                self.keep(i, f"{l.name}:gamma", l.c_out, "param")
                self.new(l.name, f"{l.name}:out", out_elements)
            elif l.op == "attn":
                q, k, v = ins
                a = l.args
                n_q, n_kv = _n(l.h_out) * _n(l.w_out), _n(l.h_in) * _n(l.w_in)
                self.keep(i, f"{l.name}:q", a["heads"] * a["key_dim"] * n_q)  # the scaled queries
                self.keep(i, k, self.elements.get(k, 0))
                self.keep(i, f"{l.name}:weights", a["heads"] * n_q * n_kv)  # softmax's result, AV's operand
                self.keep(i, v, self.elements.get(v, 0))
                self.new(l.name, f"{l.name}:out", out_elements)
            else:  # pooling, additions, concatenation, upsampling keep nothing
                self.new(l.name, f"{l.name}:out", out_elements)
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
