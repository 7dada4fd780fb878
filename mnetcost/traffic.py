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

from dataclasses import dataclass

import numpy as np

from .engine import Cost, cost
from .errors import UsageError

DTYPE_BYTES = {"float32": 4, "float16": 2, "int8": 1}
SCHEDULES = ("layerwise", "materialized")


def dtype_bytes(dtype: str) -> int:
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise UsageError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPE_BYTES)}") from None


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
        materialized tensors under ``materialized``, every layer output under ``layerwise``)."""
        import pandas as pd

        size = DTYPE_BYTES[self.dtype]
        rows = {}
        for t in self.materialized:
            if t < 0:
                h, c = self.cost.resolution, 3
            else:
                h, c = self.cost.columns["h_out"][t], self.cost.columns["c_out"][t]
            h = h.item() if hasattr(h, "item") else h
            elements = (self.input_elements if t < 0 else self.cost.columns["h_out"][t] * self.cost.columns["w_out"][t] * c)
            if h not in rows or c > rows[h][0]:
                rows[h] = (int(c), _num(elements * size))
        frame = pd.DataFrame([{"resolution": h, "channels": c, "bytes": b} for h, (c, b) in rows.items()])
        return frame.sort_values("resolution", ascending=False, ignore_index=True)


def _num(x):
    x = x.item() if hasattr(x, "item") else x
    return int(x) if float(x).is_integer() else float(x)


def memory(model, *, alpha: float = 1.0, rho=None, resolution=None, dtype: str = "float16",
           schedule: str = "materialized", convention="paper", classes=None, spatial: str = "exact",
           top=True, head=None) -> Memory:
    """Activation memory and traffic of ``model``. ``peak_bytes`` follows ``schedule``.

    >>> memory("v2", dtype="float16").peak_bytes      # 112 x 112 x 16 x 2 bytes (V2 Table 3: 400K)
    401408
    """
    size = dtype_bytes(dtype)
    if schedule not in SCHEDULES:
        raise UsageError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    r = model if isinstance(model, Cost) else cost(model, alpha=alpha, rho=rho, resolution=resolution,
                                                   convention=convention, classes=classes, spatial=spatial,
                                                   top=top, head=head)
    c = r.columns
    n = len(c["name"])
    in_el = c["h_in"] * c["w_in"] * c["c_in"]
    out_el = c["h_out"] * c["w_out"] * c["c_out"]
    input_elements = r.resolution * r.resolution * 3

    residual, alive = _liveness(c["op"], c["block"])
    tensor_size = np.concatenate([[input_elements], out_el]).astype(float)  # index t + 1
    live = alive @ tensor_size
    residual_read = np.where(residual > -2, tensor_size[np.maximum(residual, -1) + 1], 0)

    folded_bias = np.where(c["bn"], c["c_out"], 0)
    weight_bytes = (c["weights"] + c["biases"] + folded_bias) * size
    in_bytes = (in_el + residual_read) * size
    out_bytes = out_el * size
    moved = in_bytes + weight_bytes + out_bytes
    intensity = np.divide(c["mult_adds"], moved, out=np.zeros(n), where=moved > 0)

    materialized = _materialized(c, n)
    is_mat = np.isin(np.arange(n), materialized)
    columns = {"name": c["name"], "block": c["block"], "op": c["op"], "h_out": c["h_out"], "w_out": c["w_out"],
               "c_out": c["c_out"], "mult_adds": c["mult_adds"], "in_bytes": in_bytes, "out_bytes": out_bytes,
               "weight_bytes": weight_bytes, "bytes_moved": moved, "intensity": intensity,
               "live_bytes": live * size, "materialized": is_mat}
    if schedule == "layerwise":
        i = int(np.argmax(live))
        peak, where = live[i] * size, c["name"][i]
    else:
        sizes = tensor_size[materialized + 1]
        j = int(np.argmax(sizes))
        peak, where = sizes[j] * size, "input" if materialized[j] < 0 else c["name"][materialized[j]]
    return Memory(cost=r, dtype=dtype, schedule=schedule, columns=columns, input_elements=input_elements,
                  materialized=materialized if schedule == "materialized" else np.arange(-1, n),
                  peak_bytes=_num(peak), peak_layer=where)


def _liveness(ops, blocks):
    """Which tensors a layer-by-layer executor holds at each layer: ``(residual, alive)`` where
    ``residual[i]`` is the extra tensor an addition reads (-2: none) and ``alive`` is a layers x
    tensors 0/1 matrix (tensor t at column t + 1; column 0 is the network input). Layer i reads layer
    i-1's output; an addition also reads its block's input, which stays alive until then."""
    n = len(ops)
    first_of_block = {}
    for i, b in enumerate(blocks):
        first_of_block.setdefault(b, i)
    residual = np.array([first_of_block[blocks[i]] - 1 if ops[i] == "add" else -2 for i in range(n)], dtype=np.int64)
    last_use = np.arange(0, n + 1)  # tensor t (index t + 1, from -1) is read by layer t + 1 ...
    last_use[-1] = n - 1  # ... the network output by nobody after the last layer
    for i in np.flatnonzero(residual > -2):
        last_use[residual[i] + 1] = max(last_use[residual[i] + 1], i)
    produced = np.arange(-1, n)
    layer = np.arange(n)[:, None]
    alive = ((produced[None, :] <= layer) & (last_use[None, :] >= layer)).astype(float)
    return residual, alive


def peak_grid(model, alphas, resolutions, *, dtype: str = "float16", schedule: str = "materialized",
              convention="paper", classes=None):
    """Peak activation bytes for every alpha (rows) and resolution (columns): ``memory(...).peak_bytes``
    on a grid, with each alpha's layers expanded once for all resolutions."""
    from .engine import check_classes, check_resolutions, rules_for
    from .expand import expand
    from .tables import load_table

    size = dtype_bytes(dtype)
    if schedule not in SCHEDULES:
        raise UsageError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    table = load_table(model)
    rules = rules_for(table, convention)
    res = check_resolutions(table, list(resolutions), "exact")
    classes = check_classes(classes, rules)
    out = np.zeros((len(alphas), len(res)), dtype=np.int64)
    for a_i, a in enumerate(alphas):
        layers = expand(table, rules, float(a), res, classes, "exact")
        ops = np.array([l.op for l in layers], dtype=object)
        blocks = np.array([l.block for l in layers], dtype=object)
        sizes = np.array([res * res * table.channels] + [np.broadcast_to(l.h_out * l.w_out * l.c_out, res.shape)
                                                          for l in layers], dtype=np.int64)  # tensors x resolutions
        if schedule == "layerwise":
            out[a_i] = (_liveness(ops, blocks)[1] @ sizes).max(axis=0)
        else:
            out[a_i] = sizes[_materialized({"op": ops, "block": blocks}, len(layers)) + 1].max(axis=0)
    return out * size


def _materialized(c, n: int) -> np.ndarray:
    """Tensor ids kept under the materialized schedule: the network input and each block's output,
    less the two streamed cases of the module docstring."""
    blocks = list(dict.fromkeys(c["block"]))
    last = {b: max(i for i in range(n) if c["block"][i] == b) for b in blocks}
    first = {b: min(i for i in range(n) if c["block"][i] == b) for b in blocks}
    kept = [-1]
    for k, b in enumerate(blocks):
        out = last[b]
        nxt = out + 1
        if k == 0 and c["op"][out] in ("conv", "pw") and nxt < n and c["op"][first[c["block"][nxt]]] == "dw":
            continue  # the first layer streams into a block that starts with a depthwise conv
        if nxt < n and c["op"][nxt] == "pool" and c["op"][out] != "pool":
            continue  # global pooling consumes its input channel by channel
        kept.append(out)
    return np.array(kept)
