"""The operator suite: time, on this machine, the layers the tables are made of, one layer per small
ONNX graph, so that a device model can be fitted per operator and predict networks nobody timed whole.

Which layers: the primitive layers of the shipped tables (or of one given table), expanded at each
table's own resolution and a spread of widths and resolutions, deduplicated by shape, grouped into
strata (op, kernel, stride, activation, squeeze-excite gates, unaligned depthwise channels, upsampling
mode) and sampled within each stratum evenly over log size, so that small and large layers of every
kind are timed. Each graph is the layer built by its op spec's ``module`` facet (the very modules
``mnetcost measure`` exports whole networks with), its inputs the graph's inputs, and -- where the layer
writes a map -- a global average as the graph's output, so that the layer's output is not a graph
output and the runtime fuses its activation as it does inside a network.

How the time is split: every graph is timed under ``mnetcost.timing``'s protocol (``time_sessions``),
beside a null graph (a 1 x 1 sum: the runtime's fixed cost of one call). Then one short profiled run
of each graph (ONNX Runtime's profiler) gives the time of each kernel the runtime actually runs after
its graph optimisations: the layer's own kernels, and the scaffolding around them (layout reorders at
the graph's edges, the sink). The layer's time is the graph's time beyond the null graph's, times its
own kernels' share; the fused kernels are recorded, as the runtime reports them (``kernels``), so
what the runtime fuses is read from the runtime itself.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np

from .errors import UsageError

ALPHAS = (0.5, 0.75, 1.0, 1.4)
SCALES = (0.6, 1.0, 1.4)  # resolutions: the table's own times these, to a multiple of 16
SIZE = 400  # graphs timed by default (about 10 minutes on one core)
PASSES = 10
MAX_ELEMENTS = 2 ** 22  # a layer's input or output beyond this many elements is not timed (memory, minutes)
MAX_MACS = 1e9
PROFILED_RUNS = 12
MIN_TIME = 2e-9  # seconds: a layer the runtime fused away entirely is written as this (a latency is > 0)
COLUMNS = ("model", "alpha", "resolution", "convention", "layer", "latency_ms", "graph_ms", "null_ms", "own_share",
           "kernels", "stratum", "pass_sd_pct", "runs", "passes", "threads", "runtime", "host", "date", "note")


@dataclass(frozen=True)
class Item:
    """One layer to time: its configuration, its name there, its stratum and its size."""

    model: str
    alpha: float
    resolution: int
    convention: str
    layer: str
    stratum: str
    size: float  # MACs + elements written: where it lies in its stratum


def _scalar(x) -> int:
    return int(np.asarray(x).ravel()[0])


def stratum(layer, rules) -> str:
    """The layer's kind as far as its time goes: op, kernel, stride, activation, and what else selects
    another kernel (unaligned depthwise channels, squeeze-excite's gates, nearest upsampling)."""
    from .ops import ALIGN

    parts = [layer.op]
    if layer.op in ("conv", "dw", "pw"):
        parts += [f"k{layer.kernel}", f"s{layer.stride}"]
    if layer.op == "dw" and _scalar(layer.c_out) % ALIGN:
        parts.append("unaligned")
    if layer.op == "se":
        parts.append(f"{rules.se_act}/{rules.se_gate}")
    if layer.op == "upsample":
        parts.append("nearest" if layer.args.get("nearest") else "bilinear")
    if layer.act not in ("", "-"):
        parts.append(layer.act)
    return " ".join(parts)


def _signature(layer, shapes) -> tuple:
    return (layer.op, layer.kernel, layer.stride, _scalar(layer.groups), _scalar(layer.c_out), _scalar(layer.c_mid),
            layer.act, layer.bn, layer.bias, layer.dilation, tuple(sorted(layer.args.items())),
            tuple(shapes[t] for t in layer.inputs), shapes.get(layer.size_of))


def expanded(model, alpha: float, resolution: int, convention: str = "paper"):
    """The layers of one configuration and the shape (channels, height, width) of every tensor."""
    from .engine import cost_layers

    r, layers, s = cost_layers(model, alpha=alpha, resolution=resolution, convention=convention)
    shapes = {"input": (s.table.channels, resolution, resolution)}
    for l in layers:
        shapes[l.name] = (_scalar(l.c_out), _scalar(l.h_out), _scalar(l.w_out))
    return layers, shapes, s


def _candidates(models, convention: str) -> dict:
    """Every distinct layer of the tables' configurations, by stratum: signature -> Item."""
    from .errors import MnetcostError
    from .ops import op_cost
    from .tables import load_table

    found: dict = {}
    for model in models:
        base = load_table(model).resolution
        for alpha in ALPHAS:
            for scale in SCALES:
                res = max(32, int(round(base * scale / 16)) * 16)
                try:
                    layers, shapes, s = expanded(model, alpha, res, convention)
                except MnetcostError:
                    continue  # a width or resolution this table refuses
                for l in layers:
                    if not np.all(l.present) or l.op not in s.ops or s.ops[l.op].module is None:
                        continue
                    elements = max(math.prod(shapes[l.name]), *(math.prod(shapes[t]) for t in l.inputs))
                    macs = float(np.sum(op_cost(l, s.rules, s.ops).macs.value()))
                    if elements > MAX_ELEMENTS or macs > MAX_MACS:
                        continue
                    key = _signature(l, shapes)
                    group = found.setdefault(stratum(l, s.rules), {})
                    if key not in group:
                        group[key] = Item(model, alpha, res, convention, l.name, stratum(l, s.rules),
                                          macs + math.prod(shapes[l.name]))
    return found


def sample(models=None, *, size: int = SIZE, convention: str = "paper", seed: int = 0) -> list[Item]:
    """About ``size`` layers of ``models`` (table names or paths; default: every shipped table), every
    stratum with at least two (one when it has one), the rest shared by the square root of each stratum's
    distinct layers, each stratum's picked evenly over log size (smallest and largest included)."""
    from .tables import model_names

    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 2000:
        raise UsageError(f"a suite's size is a whole number of graphs from 1 to 2000, got {size!r:.40}")
    models = model_names() if models is None else list(models)
    found = _candidates(models, convention)
    if not found:
        raise UsageError("the tables have no layer the suite can time")
    weights = {k: math.sqrt(len(v)) for k, v in found.items()}
    total = sum(weights.values())
    rng = random.Random(seed)
    out = []
    for k in sorted(found):
        items = sorted(found[k].values(), key=lambda i: (i.size, i.model, i.layer))
        n = min(len(items), max(min(3, size), round(size * weights[k] / total)))
        picks = sorted({round(x) for x in np.linspace(0, len(items) - 1, n)})
        while len(picks) < n:  # evenly spaced indices collided: fill at random
            picks = sorted(set(picks) | {rng.randrange(len(items))})
        out += [items[i] for i in picks]
    return out


def _graph(item: Item, cache: dict):
    """The ONNX bytes of the item's layer as its own graph, and a feed of random inputs."""
    import torch

    key = (item.model, item.alpha, item.resolution, item.convention)
    if key not in cache:
        cache.clear()
        cache[key] = expanded(*key)
    layers, shapes, s = cache[key]
    layer = next(l for l in layers if l.name == item.layer)
    module = _OneLayer(s.ops[layer.op].facet("module")(layer, s.rules), shapes[layer.size_of][1:]
                       if layer.size_of else None).eval()
    xs = tuple(torch.zeros(1, *shapes[t]) for t in layer.inputs)
    names = [f"x{i}" for i in range(len(xs))]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, xs, buffer, dynamo=False, opset_version=17, input_names=names)
    rng = np.random.default_rng(0)
    return buffer.getvalue(), {n: rng.standard_normal(x.shape).astype(np.float32) for n, x in zip(names, xs)}


def _one_layer_class():
    from torch import nn

    class OneLayer(nn.Module):
        """A layer on its own; a map it writes is averaged to the graph's output (the sink)."""

        def __init__(self, module, size):
            super().__init__()
            self.m, self.size = module, tuple(size) if size else None

        def forward(self, *xs):
            y = self.m(*xs, self.size) if self.size else self.m(*xs)
            return y.mean((2, 3), keepdim=True) if y.dim() == 4 and y.shape[-1] * y.shape[-2] > 1 else y

    return OneLayer


def _OneLayer(module, size):
    return _one_layer_class()(module, size)


def _null_graph():
    """The smallest graph: a sum of two 1 x 1 tensors (the runtime's fixed cost of one call)."""
    import onnx
    from onnx import TensorProto, helper

    x = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1]) for n in ("a", "b")]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "null", x, [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return onnx.shape_inference.infer_shapes(model).SerializeToString(), {n: np.ones((1, 1), np.float32)
                                                                           for n in ("a", "b")}


def _options(ort, threads: int, profile: str | None = None):
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = profile
    return options


def kernel_times(ort, graph: bytes, feed: dict, threads: int, folder: str) -> list[tuple[str, str, float]]:
    """(node, kernel, median seconds) of each kernel the runtime runs for ``graph`` after its optimisations,
    from its profiler over ``PROFILED_RUNS`` runs (after as many untimed)."""
    session = ort.InferenceSession(graph, _options(ort, threads, os.path.join(folder, "suite")),
                                   providers=["CPUExecutionProvider"])
    for _ in range(2 * PROFILED_RUNS):
        session.run(None, feed)
    path = session.end_profiling()
    try:
        with open(path, encoding="utf-8") as f:
            events = json.load(f)
    finally:
        os.remove(path)
    times: dict = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            times.setdefault((e["name"][: -len("_kernel_time")], e["args"].get("op_name", "")), []).append(e["dur"])
    return [(node, kernel, float(np.median(d[len(d) // 2:])) * 1e-6) for (node, kernel), d in times.items()]


def own_kernels(kernels) -> tuple[float, str]:
    """The share of the layer's own kernels in a graph's kernel time, and their names: all but the layout
    reorders the runtime put at the graph's edges and the sink (the graph's last global average)."""
    sink = next((node for node, k, _ in reversed(kernels) if k in ("ReduceMean", "GlobalAveragePool")
                 and not node.startswith("/m/")), None)
    own = [(k, t) for node, k, t in kernels if not k.startswith("Reorder") and node != sink]
    total = sum(t for _, _, t in kernels)
    share = sum(t for _, t in own) / total if total > 0 else 0.0
    return share, "+".join(k for k, _ in own)


@dataclass
class SuiteMeasurement:
    model: str
    alpha: float
    resolution: int
    convention: str
    layer: str
    latency_ms: float  # the layer's own time: (graph - null graph) x its kernels' share
    graph_ms: float  # the graph's latency under the protocol
    null_ms: float  # the null graph's
    own_share: float
    kernels: str  # the layer's kernels as the runtime runs them ("+": one after another)
    stratum: str
    pass_sd_pct: float
    runs: int
    passes: int
    threads: int
    runtime: str
    host: str
    date: str
    note: str = ""


def measure_suite(items, *, threads: int = 1, passes: int = PASSES, repeat: int | None = None, seed: int | None = None,
                  progress=None, clock=None) -> list[SuiteMeasurement]:
    """Time each ``Item`` (see ``sample``) under ``mnetcost.timing``'s protocol beside the null graph, and
    split each graph's time by the runtime's profiler (module docstring); ``clock`` as for ``timing.measure``."""
    from datetime import datetime, timezone

    from .errors import memory_guard
    from .timing import _check, _imports, host, time_sessions

    _check("onnxruntime", threads, repeat, passes)
    items = list(items)
    if not items or not all(isinstance(i, Item) for i in items):
        raise UsageError("a suite is a non-empty list of suite.Item (see suite.sample)")
    _, ort = _imports()
    say = progress or (lambda message: None)
    cache: dict = {}
    graphs = [_null_graph()]
    with memory_guard("measure --suite"), tempfile.TemporaryDirectory() as folder:
        for k, item in enumerate(items):
            if k % 25 == 0:
                say(f"building graph {k + 1} of {len(items)}")
            graphs.append(_graph(item, cache))
        shares = [own_kernels(kernel_times(ort, g, feed, threads, folder)) for g, feed in graphs[1:]]
        sessions = [(ort.InferenceSession(g, _options(ort, threads), providers=["CPUExecutionProvider"]), feed)
                    for g, feed in graphs]
        timed = time_sessions(sessions, repeat=repeat, passes=passes, seed=seed, progress=say, clock=clock)
    null = timed[0].latency_s
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    runtime = f"onnxruntime {ort.__version__}"
    return [SuiteMeasurement(i.model, i.alpha, i.resolution, i.convention, i.layer,
                             max((t.latency_s - null) * share, MIN_TIME) * 1e3, t.latency_s * 1e3, null * 1e3, share, names,
                             i.stratum, t.pass_sd_pct, t.runs, passes, threads, runtime, host(), stamp)
            for i, t, (share, names) in zip(items, timed[1:], shares)]


def write_suite(rows, path) -> None:
    """Write the suite's measurements as a CSV (replacing ``path``), read back by
    ``calibration.read_measurements``: each number as the float it is."""
    import csv
    from dataclasses import asdict
    from pathlib import Path

    from .errors import EnvironmentProblem
    from .latency import exact
    from .tables import table_reference

    p = Path(str(path)).expanduser()
    try:
        with open(p, "w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, COLUMNS, lineterminator="\n")
            w.writeheader()
            for m in rows:
                row = asdict(m)
                row["model"] = table_reference(m.model, p)
                row.update({k: exact(row[k]) for k in ("latency_ms", "graph_ms", "null_ms", "own_share")},
                           pass_sd_pct=f"{m.pass_sd_pct:.2f}")
                w.writerow(row)
    except OSError as e:
        raise EnvironmentProblem(f"cannot write the suite's measurements {str(path)!r:.300}: {e.strerror or e}") from None


def run(table=None, *, size: int = SIZE, convention: str = "paper", output=None, passes=None, threads: int = 1,
        repeat=None, seed=None, runtime: str = "onnxruntime", progress=None, clock=None) -> list[SuiteMeasurement]:
    """``mnetcost measure --suite``: sample the layers of the shipped tables (or of ``table``), time them
    (``measure_suite``) and write them to ``output`` (checked before any timing) when given."""
    from .timing import _check, check_output

    _check(runtime, threads, repeat, PASSES if passes is None else passes)
    if table is not None and not isinstance(table, str):
        raise UsageError(f"--for takes a table's name or path, got {table!r:.80}")
    items = sample(None if table is None else [table], size=size, convention=convention, seed=seed or 0)
    if output is not None:
        check_output(output, COLUMNS)
    rows = measure_suite(items, threads=threads, passes=PASSES if passes is None else passes, repeat=repeat,
                         seed=seed, progress=progress, clock=clock)
    if output is not None:
        write_suite(rows, output)
    return rows
