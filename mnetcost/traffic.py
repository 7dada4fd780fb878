"""Activation memory, weight bytes, bytes moved and arithmetic intensity, per layer and at peak.

Two schedules for the peak:

- ``layerwise``: a plain executor runs the primitive layers in order and holds, at each layer, its
  input, its output, and every earlier tensor that a later layer still needs (a residual's block
  input). Peak = the largest such sum.
- ``materialized``: the MobileNetV2 paper's definition (Section 5.1, Table 3): only the tensors
  between blocks are materialized; everything inside a block (the expansion, the depthwise output,
  squeeze-excite) is streamed. Peak = the largest materialized tensor. Two more tensors are streamed,
  as the paper's Table 3 implies: the first layer's output when the next block starts with a
  depthwise convolution (the "trick" of its caption), and a block output whose only consumer is the
  global average pool (pooling accumulates channel by channel as they are produced).

Bytes are counted at one dtype for activations and weights alike; weights are the inference
weights: conv/FC weights and biases, with BatchNorm folded into one bias per channel.
"""

from __future__ import annotations

__all__ = ["memory", "peak_grid", "Memory", "dtype_bytes", "forward_bytes", "check_forward", "FORWARD_LIMIT"]  # the public API: the rest are the modules' own parts

from dataclasses import dataclass

import numpy as np

from .config import choice, configure
from .errors import UsageError
from .engine import Cost, check_alphas, check_resolutions, cost, hw, setup
from .expand import single
from .vocab import DEFAULT_DTYPE, DTYPE_BYTES, DTYPES, SCHEDULES



def dtype_bytes(dtype: str) -> int:
    return DTYPE_BYTES[choice(dtype, "dtype", DTYPES)]


@dataclass
class Memory:
    """Memory and traffic of one configuration at one dtype under one schedule."""

    cost: Cost
    dtype: str
    schedule: str
    columns: dict
    input_elements: float
    materialized: np.ndarray  # tensor ids (-1: the network input, i: layer i's output)
    peak_bytes: int
    peak_layer: str

    def __repr__(self):
        return (f"Memory({self.cost.model!r}, alpha={self.cost.alpha:g}, resolution={self.cost.resolution}, "
                f"dtype={self.dtype!r}, schedule={self.schedule!r}: peak {self.peak_bytes:,} bytes at {self.peak_layer})")

    @property
    def layers(self):
        import pandas as pd

        keys = ("name", "block", "op", "h_out", "w_out", "c_out", "mult_adds", "in_bytes", "out_bytes",
                "weight_bytes", "bytes_moved", "intensity", "live_bytes", "materialized")
        return pd.DataFrame({k: self.columns[k] for k in keys})

    @property
    def weight_bytes(self) -> int:
        return int(self.columns["weight_bytes"].sum())

    def by_resolution(self):
        """Per spatial size, the widest tensor the schedule keeps and its bytes (V2 Table 3's view:
        materialized tensors under ``materialized``, every layer output under ``layerwise``). Rows are keyed
        by (height, width), largest first: ``resolution`` is the side (an int) for a square input and
        "HxW" (text) for a non-square one."""
        import pandas as pd

        return pd.DataFrame(self.resolution_rows(), columns=["resolution", "channels", "bytes"])

    def resolution_rows(self) -> list[dict]:
        """``by_resolution`` as records, largest size first (without pandas)."""
        size = DTYPE_BYTES[self.dtype]
        c = self.cost.columns
        h_in, w_in = hw(self.cost.resolution)
        square = h_in == w_in
        rows = {}
        for t in self.materialized:
            h = _num(h_in if t < 0 else c["h_out"][t])
            w = _num(w_in if t < 0 else c["w_out"][t])
            channels = self.cost.channels if t < 0 else int(c["c_out"][t])
            elements = self.input_elements if t < 0 else c["h_out"][t] * c["w_out"][t] * channels
            if (h, w) not in rows or channels > rows[h, w][0]:
                rows[h, w] = (channels, _num(elements * size))
        ordered = sorted(rows.items(), key=lambda item: item[0], reverse=True)
        return [{"resolution": h if square else f"{h}x{w}", "channels": ch, "bytes": b} for (h, w), (ch, b) in ordered]


def _num(x):
    x = x.item() if hasattr(x, "item") else x
    return int(x) if float(x).is_integer() else float(x)


def memory(model, config=None, *, dtype: str = DEFAULT_DTYPE, schedule: str = "materialized", **options) -> Memory:
    """Activation memory and traffic of ``model`` (or of a ``Cost`` already computed) under one configuration
    (``config`` or keyword options, as for ``cost``). ``peak_bytes`` follows ``schedule``; it is the
    one-configuration case of ``peak_grid`` (the same tensor plan and sizes).

    >>> memory("v2", dtype="float16").peak_bytes      # 112 x 112 x 16 x 2 bytes (V2 Table 3: 400K)
    401408
    """
    size = dtype_bytes(dtype)
    choice(schedule, "schedule", SCHEDULES)
    r = model if isinstance(model, Cost) else cost(model, config, **options)
    c = r.columns
    n = len(c["name"])
    plan = Plan(c["name"], c["inputs"], c["block"], roles(r.ops, c["op"]))
    sizes = tensor_sizes(r.channels, *hw(r.resolution), c["h_out"], c["w_out"], c["c_out"])
    live = plan.live(sizes)
    in_bytes, weight_bytes, out_bytes = traffic_bytes(plan, sizes, c["weights"], c["biases"], c["bn"], c["c_out"], size)
    moved = in_bytes + weight_bytes + out_bytes
    materialized = plan.materialized()
    columns = {"name": c["name"], "block": c["block"], "op": c["op"], "h_out": c["h_out"], "w_out": c["w_out"],
               "c_out": c["c_out"], "mult_adds": c["mult_adds"], "in_bytes": in_bytes, "out_bytes": out_bytes,
               "weight_bytes": weight_bytes, "bytes_moved": moved,
               "intensity": np.divide(c["mult_adds"], moved, out=np.zeros(n), where=moved > 0),
               "live_bytes": live * size, "materialized": np.isin(np.arange(n), materialized)}
    peak, where = plan.peak(sizes, schedule)
    return Memory(cost=r, dtype=dtype, schedule=schedule, columns=columns, input_elements=sizes[0],
                  materialized=materialized if schedule == "materialized" else np.arange(-1, n),
                  peak_bytes=_num(peak * size), peak_layer="input" if where < 0 else c["name"][where])


def roles(ops, names) -> list:
    """Each layer's roles in the materialized schedule, from its op spec (``memory``)."""
    return [ops[op].memory for op in names]


def traffic_bytes(plan, sizes, weights, biases, bn, c_out, size: int):
    """Per layer (bytes read, weight bytes, bytes written): every input read once, the inference
    weights (BatchNorm folded into one bias per channel) read once, the output written once."""
    folded_bias = np.where(bn, c_out, 0)
    weight_bytes = (np.asarray(weights) + np.asarray(biases) + folded_bias) * size
    return plan.read(sizes) * size, weight_bytes, np.asarray(sizes[1:]) * size


def tensor_sizes(channels, height, width, h_out, w_out, c_out):
    """Elements of every tensor (the input first, then each layer's output); with per-resolution arrays,
    tensors x resolutions."""
    image = np.asarray(height) * np.asarray(width) * channels
    outputs = [h * w * c for h, w, c in zip(h_out, w_out, c_out)]
    out = np.empty((len(outputs) + 1,) + np.shape(image), dtype=np.result_type(image, *outputs))
    out[0] = image
    for i, elements in enumerate(outputs, 1):  # each broadcast to the resolutions by assignment
        out[i] = elements
    return out


class Plan:
    """Which tensors each layer reads and how long each lives, for a layer-by-layer executor; linear
    in the number of layers. Tensor ids: -1 the network input, i layer i's output (row i + 1 of a
    sizes array)."""

    def __init__(self, names, inputs, blocks, roles):
        index = {"input": -1}
        index.update((name, i) for i, name in enumerate(names))
        self.n = n = len(names)
        self.reads = [[index[t] for t in ins] for ins in inputs]
        self.blocks, self.roles = list(blocks), list(roles)
        readers = [[] for _ in range(n + 1)]
        for i, ids in enumerate(self.reads):
            for t in ids:
                readers[t + 1].append(i)
        self.readers = readers
        # a tensor lives from its layer to its last reader; one nobody reads is an output, kept to the end
        self.last = np.array([max(r) if r else n - 1 for r in readers], dtype=np.int64)
        self.first = np.concatenate([[0], np.arange(n)])

    def live(self, sizes):
        """Elements held while each layer runs: its inputs, its output, and every earlier tensor a
        later layer still needs."""
        events = np.zeros((self.n + 1,) + np.shape(sizes)[1:], dtype=np.asarray(sizes).dtype)
        np.add.at(events, self.first, sizes)
        np.subtract.at(events, self.last + 1, sizes)
        return np.cumsum(events, axis=0)[: self.n]

    def read(self, sizes):
        """Elements each layer reads (all its inputs)."""
        return np.array([sum(sizes[t + 1] for t in ids) for ids in self.reads])

    def materialized(self) -> np.ndarray:
        """Tensor ids kept under the materialized schedule: the network input, each block's output and
        every tensor read outside its block, less the two streamed cases of the module docstring."""
        last_of_block = {}
        for i, b in enumerate(self.blocks):
            last_of_block[b] = i
        first_of_block = {}
        for i, b in enumerate(self.blocks):
            first_of_block.setdefault(b, i)
        outputs = set(last_of_block.values())
        first_block = self.blocks[0] if self.n else None
        kept = [-1]
        for t in range(self.n):
            readers = self.readers[t + 1]
            crossing = any(self.blocks[i] != self.blocks[t] for i in readers)
            if t not in outputs and not crossing:
                continue
            if (self.blocks[t] == first_block and "stem" in self.roles[t] and readers
                    and all("depthwise" in self.roles[i] and first_of_block[self.blocks[i]] == i for i in readers)):
                continue  # the first layer streams into a block that starts with a depthwise conv
            if readers and "pooling" not in self.roles[t] and all("pooling" in self.roles[i] for i in readers):
                continue  # global pooling consumes its input channel by channel
            kept.append(t)
        return np.array(kept)

    def peak(self, sizes, schedule: str):
        """(peak elements, tensor or layer id where it happens), per resolution with array sizes."""
        if schedule == "layerwise":
            live = self.live(sizes)
            return live.max(axis=0), int(np.argmax(live, axis=0).ravel()[0])
        kept = self.materialized()
        held = np.asarray(sizes)[kept + 1]
        return held.max(axis=0), int(kept[np.argmax(held, axis=0).ravel()[0]])


def peak_grid(model, alphas, resolutions, config=None, *, dtype: str = DEFAULT_DTYPE, schedule: str = "materialized",
              **options):
    """Peak activation bytes for every alpha (rows) and resolution (columns): ``memory(...).peak_bytes``
    on a grid, with each alpha's layers expanded once for all resolutions; the rest of the configuration is
    ``config`` or keyword options, as for ``memory``."""
    size = dtype_bytes(dtype)
    choice(schedule, "schedule", SCHEDULES)
    s = setup(model, configure(config, **options))
    alphas, res = check_alphas(alphas), check_resolutions(s, resolutions)
    return np.array([peak_of(s, single(s.expand(np.array([a]), res)), res, schedule) for a in alphas]) * size


def planned(s, layers, res) -> tuple:
    """One configuration's ``layers`` as a memory ``Plan`` and its tensors' elements (the network input first)
    at each of the square resolutions ``res``: ``(plan, sizes)``."""
    plan = Plan([l.name for l in layers], [l.inputs for l in layers], [l.block for l in layers],
                roles(s.ops, [l.op for l in layers]))
    sizes = tensor_sizes(s.table.channels, res, res, [l.h_out for l in layers], [l.w_out for l in layers],
                         [l.c_out for l in layers])
    return plan, sizes


def peak_of(s, layers, res, schedule: str) -> np.ndarray:
    """Peak elements of one configuration's ``layers`` at each of the square resolutions ``res``."""
    plan, sizes = planned(s, layers, res)
    return np.asarray(plan.peak(sizes, schedule)[0], dtype=np.int64)


# ---- the bytes a forward pass needs: the one bound of everything that builds and runs a network ---------------

# bytes a forward pass may need, estimated before building: verify builds and runs the module (weights and the
# live activations: about the estimate); measure also exports it to ONNX and loads it into ONNX Runtime, which
# holds the weights several times over (a 24 GiB machine runs the largest accepted configuration)
FORWARD_LIMIT = {"verify": 4 << 30, "measure": 1 << 30}


@dataclass(frozen=True)
class Forward:
    """The bytes a forward pass of one configuration needs, float32, batch 1: its weights (every parameter
    the convention counts), the largest activations live at once (the ``layerwise`` peak) and the largest
    attention score matrix (heads x N_q x N_kv, which the memory model's tensors do not hold)."""

    weight_bytes: int
    activation_bytes: int
    score_bytes: int

    @property
    def total(self) -> int:
        return self.weight_bytes + self.activation_bytes + self.score_bytes


def forward_bytes(r: Cost, layers) -> Forward:
    """The ``Forward`` estimate of the cost result ``r`` and its primitive ``layers`` (``cost_layers``)."""
    from .expand import Layer

    if not isinstance(r, Cost) or isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
        raise UsageError("forward_bytes takes a cost result and its layers: engine.cost_layers(...)[:2]")
    layers = list(layers)
    if not all(isinstance(l, Layer) for l in layers):
        raise UsageError("forward_bytes takes a cost result and its layers: engine.cost_layers(...)[:2]")
    live = memory(r, dtype="float32", schedule="layerwise").columns["live_bytes"]
    scores = [float(l.args["heads"]) * float(np.max(l.h_out)) * float(np.max(l.w_out))
              * float(np.max(l.h_in)) * float(np.max(l.w_in)) for l in layers if l.args and "heads" in l.args]
    return Forward(4 * int(r.params), int(np.max(live, initial=0)), int(4 * max(scores, default=0.0)))


def check_forward(r: Cost, layers, what: str) -> Forward:
    """Refuse (a UsageError naming the size) a configuration whose forward pass would need more than
    ``FORWARD_LIMIT`` bytes, before anything is built; ``what`` names the caller ("verify", "measure")."""
    f = forward_bytes(r, layers)
    limit = FORWARD_LIMIT[what]
    if f.total > limit:
        raise UsageError(
            f"{what} builds and runs the network: {r.model} at alpha {r.alpha:g}, {'x'.join(map(str, hw(r.resolution)))} px needs about "
            f"{f.total / 1e6:,.0f} MB for a forward pass (float32, batch 1: weights {f.weight_bytes / 1e6:,.0f} MB, "
            f"activations {f.activation_bytes / 1e6:,.0f} MB, attention scores {f.score_bytes / 1e6:,.0f} MB), beyond "
            f"its limit of {limit / 1e6:,.0f} MB; choose a smaller resolution or width")
    return f
