"""The operator suite: time, on this machine, the layers the tables are made of, one layer per small
ONNX graph, so that a device model can be fitted per operator and predict networks nobody timed whole.

Which layers: the primitive layers of the shipped tables (or of one given table), expanded at each
table's own resolution and a spread of widths and resolutions, deduplicated by shape, grouped into
strata (op, kernel, stride, activation, squeeze-excite gates, unaligned depthwise channels, upsampling
mode) and sampled within each stratum evenly over log size, so that small and large layers of every
kind are timed; then a quarter more where a fit to those errs most (``resample``). Each graph is the
layer built by its op spec's ``module`` facet (the very modules
``mnetcost measure`` exports whole networks with) in a context as inside a network: each input written
by a 1x1 convolution, the output read by a depthwise one, then a global average as the graph's output --
so that the runtime fuses the layer's activation, folds a residual sum or a layer scale into the
convolution before it, and reorders the layout around an op without a blocked kernel, as it does
inside a network.

How the time is split: every graph is timed under ``mnetcost.timing``'s protocol (``time_sessions``),
beside a null graph (a 1 x 1 sum: the runtime's fixed cost of one call), with ``EVICT`` bytes written
before every run (a layer in a network finds the other layers' data in the core's cache, not its own
weights). Then one short profiled run
of each graph (ONNX Runtime's profiler) gives the time of each kernel the runtime actually runs after
its graph optimisations, and the optimised graph it saves says which are the layer's: its own kernels
and the layout reorders between the convolutions around it, not the context (those convolutions, the
reorders at the graph's edges, the sink). The layer's time is the graph's time beyond the null graph's,
times its kernels' share; its kernels are recorded as the runtime reports them (``kernels``), so what
the runtime fuses is read from the runtime itself.

The cache curve: between two runs of a layer a network passes its other layers' weights and activations
through the caches -- V4 Hybrid-L 150 MB of weights, V3-Small 10 MB -- and a suite graph timed after
``EVICT`` bytes are written stands for a network of about that size only. So a few of the suite's graphs (``cache_probes``) are
timed again after writing each of ``CACHE_SIZES`` (1 MB to 512 MB) before every run; ``calibrate`` fits
from them how much longer layers take with that many bytes passed between their runs (each size's median
ratio to the suite's own), and the device model charges a network by the bytes it touches per call
(``latency.cache_factor``).
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
from functools import lru_cache

import numpy as np

from .errors import UsageError
from .vocab import SUITE_COLUMNS as COLUMNS
from .vocab import SUITE_EVICT as EVICT  # bytes written before every timed run of a graph

ALPHAS = (0.5, 0.75, 1.0, 1.4)
SCALES = (0.6, 1.0, 1.4)  # resolutions: the table's own times these, to a multiple of 16
SIZE = 400  # graphs timed first by default (with ADAPT more: about 6 minutes on one core here)
ADAPT = 100  # graphs added where the first ones' fit errs most (``resample``)
CACHE_SIZES = tuple(mb << 20 for mb in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512))  # bytes written before each run
# of the cache curve's graphs (EVICT among them: the reference); a network's bytes per call fall in this range
CACHE_PROBES = 8  # graphs timed at each of those sizes (one per 50 of the suite's, at least one)
PASSES = 10
MAX_ELEMENTS = 2 ** 22  # a layer's input or output beyond this many elements is not timed (memory, minutes)
MAX_MACS = 1e9
PROFILED_RUNS = 12
IMAGE = "image"  # a context graph's input that is the network's image (no convolution writes it)
CONTEXT = 8  # channels of the context graph's inputs: a 1x1 convolution from 8 channels runs blocked for any output
MIN_TIME = 2e-9  # seconds: a layer the runtime fused away entirely is written as this (a latency is > 0)


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


def stratum(layer, rules, ops=None) -> str:
    """The layer's kind as far as its time goes: its op, the words its op spec's ``variant`` facet gives
    (kernel and stride, unaligned depthwise channels, squeeze-excite's gates, nearest upsampling) and its
    activation."""
    from .ops import BUILTIN

    variant = (ops or BUILTIN)[layer.op].variant
    parts = [layer.op, *(variant(layer, rules) if variant else ())]
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
    return _candidates_of(tuple(models), convention)


@lru_cache(maxsize=2)
def _candidates_of(models: tuple, convention: str) -> dict:
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
                    group = found.setdefault(stratum(l, s.rules, s.ops), {})
                    if key not in group:
                        group[key] = Item(model, alpha, res, convention, l.name, stratum(l, s.rules, s.ops),
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
    wanted = {k: max(min(3, size), round(size * weights[k] / total)) for k in found}
    return _picks(found, wanted, set(), random.Random(seed))


def _picks(found: dict, wanted: dict, taken: set, rng) -> list[Item]:
    """``wanted[stratum]`` layers of each stratum of ``found`` not ``taken`` (signatures), evenly over log size."""
    out = []
    for k in sorted(wanted):
        items = sorted((i for key, i in found[k].items() if key not in taken), key=lambda i: (i.size, i.model, i.layer))
        n = min(len(items), wanted[k])
        if n <= 0:
            continue
        picks = sorted({round(x) for x in np.linspace(0, len(items) - 1, n)})
        while len(picks) < n:  # evenly spaced indices collided: fill at random
            picks = sorted(set(picks) | {rng.randrange(len(items))})
        out += [items[i] for i in picks]
    return out


def resample(rows, models=None, *, extra: int = ADAPT, convention: str = "paper", seed: int = 0) -> list[Item]:
    """``extra`` more layers where the suite measured so far (``rows``) is fitted worst, as nn-Meter samples:
    the device model fitted to them (``calibrate``, form suite, each network's layers held out in turn),
    each stratum's share of the extra layers by its mean held-out |error| times the square root of its
    layers not yet timed, picked evenly over log size among those."""
    from .calibration import Observation, calibrate
    from .tables import model_names

    if len(rows) < 2 or extra <= 0:
        return []
    models = model_names() if models is None else list(models)
    found = _candidates(models, convention)
    observations = [Observation("suite", m.model, m.alpha, m.resolution, m.convention, m.latency_ms / 1e3, m.layer,
                                m.null_ms / 1e3) for m in rows]
    table = calibrate(observations, name="resample").table
    error: dict = {}
    for m, e in zip(rows, table["error"].abs()):
        error.setdefault(m.stratum, []).append(float(e))
    timed = {(m.model, m.alpha, m.resolution, m.layer) for m in rows}
    taken = {key for group in found.values() for key, i in group.items()
             if (i.model, i.alpha, i.resolution, i.layer) in timed}
    left = {k: len(group) - sum(key in taken for key in group) for k, group in found.items()}
    weight = {k: float(np.mean(error.get(k, [1.0]))) * math.sqrt(left[k]) for k in found if left[k]}
    total = sum(weight.values())
    if total <= 0:
        return []
    wanted = {k: math.floor(extra * w / total + 0.5) for k, w in weight.items()}
    return _picks(found, wanted, taken, random.Random(seed))


def _graph(item: Item, cache: dict):
    """The ONNX bytes of the item's layer in its context graph (``_in_context``), and a feed of random inputs."""
    import torch

    key = (item.model, item.alpha, item.resolution, item.convention)
    if key not in cache:
        cache.clear()
        cache[key] = expanded(*key)
    layers, shapes, s = cache[key]
    layer = next(l for l in layers if l.name == item.layer)
    image = [t == "input" for t in layer.inputs]  # the network's own input: no convolution writes it
    module = _in_context(s.ops[layer.op].facet("module")(layer, s.rules), shapes[layer.size_of][1:]
                         if layer.size_of else None, [0 if i else shapes[t][0] for t, i in zip(layer.inputs, image)],
                         shapes[layer.name][0]).eval()
    xs = tuple(torch.zeros(1, *(shapes[t] if i else (CONTEXT,) + shapes[t][1:])) for t, i in zip(layer.inputs, image))
    names = [IMAGE if i else f"x{k}" for k, i in enumerate(image)]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, xs, buffer, dynamo=False, opset_version=17, input_names=names)
    rng = np.random.default_rng(0)
    return buffer.getvalue(), {n: rng.standard_normal(x.shape).astype(np.float32) for n, x in zip(names, xs)}


def _in_context_class():
    from torch import nn

    class InContext(nn.Module):
        """A layer as it sits in a network: each map it reads (but the image) is written by a 1x1
        convolution from CONTEXT channels (``pre``: the runtime runs it in its blocked layout whatever the
        channels, as a network's expansions and projections), a map it writes is read by a depthwise 1x1
        convolution (``post``: blocked where the channels are a multiple of 8, as a network's next
        convolution), then averaged to the graph's output (the sink). So an op without a blocked kernel
        pays the layout reorders a network makes around it, and an op the runtime folds into the
        convolution before it (a residual sum, a layer scale) costs what it costs there."""

        def __init__(self, module, size, channels_in, channels_out):
            super().__init__()
            self.m, self.size = module, tuple(size) if size else None
            self.pre = nn.ModuleList(nn.Conv2d(CONTEXT, c, 1) if c else nn.Identity() for c in channels_in)
            self.post = nn.Conv2d(channels_out, channels_out, 1, groups=channels_out)

        def forward(self, *xs):
            xs = [p(x) for p, x in zip(self.pre, xs)]
            y = self.m(*xs, self.size) if self.size else self.m(*xs)
            return self.post(y).mean((2, 3), keepdim=True) if y.dim() == 4 else y

    return InContext


def _in_context(module, size, channels_in, channels_out):
    return _in_context_class()(module, size, channels_in, channels_out)


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
    options.add_session_config_entry("session.set_denormal_as_zero", "1")  # as timing's sessions
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = profile
    return options


def kernel_times(ort, graph: bytes, feed: dict, threads: int, folder: str) -> list[tuple[str, str, float, str]]:
    """(node, kernel, median seconds, role) of each kernel the runtime runs for ``graph`` after its
    optimisations, from its profiler over ``PROFILED_RUNS`` runs (after as many untimed), subnormal floats
    flushed to zero as under the timing protocol (``timing.flushed_denormals``); each node's role
    (``roles``) read from the optimised graph the runtime saves."""
    import onnx

    from .timing import flushed_denormals

    options = _options(ort, threads, os.path.join(folder, "suite"))
    options.optimized_model_filepath = os.path.join(folder, "optimised.onnx")
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    with flushed_denormals():
        for _ in range(2 * PROFILED_RUNS):
            session.run(None, feed)
    path = session.end_profiling()
    try:
        with open(path, encoding="utf-8") as f:
            events = json.load(f)
        role = roles(onnx.load(options.optimized_model_filepath, load_external_data=False).graph)
    finally:
        os.remove(path)
    times: dict = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            times.setdefault((e["name"][: -len("_kernel_time")], e["args"].get("op_name", "")), []).append(e["dur"])
    return [(node, kernel, float(np.median(d[len(d) // 2:])) * 1e-6, role.get(node, "layer"))
            for (node, kernel), d in times.items()]


def roles(graph) -> dict:
    """Per node of a context graph as the runtime optimised it: "context" for the convolutions around the
    layer (``pre``, ``post``, and a node that took a ``pre`` into itself: it reads the graph's input), the
    reorders at the graph's edges (of its inputs, into the sink) and the sink; "layer" for the rest -- the
    layer's own kernels and the layout reorders it causes between the convolutions around it."""
    consumers: dict = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    outer = {i.name for i in graph.input if i.name != IMAGE}  # the inputs a pre convolution reads
    edge = set()
    for n in graph.node:  # reorders of the graph's inputs
        if n.op_type.startswith("Reorder") and any(i in outer for i in n.input):
            edge |= set(n.output)
    out = {}
    for n in graph.node:
        top = n.name.startswith("/") and "/" not in n.name[1:]  # the sink: the graph's own mean
        feeds_sink = n.op_type.startswith("Reorder") and all(
            c.name.startswith("/") and "/" not in c.name[1:] for o in n.output for c in consumers.get(o, []))
        scaffold = (n.name.startswith(("/pre.", "/post/")) or top or feeds_sink
                    or any(i in outer or i in edge for i in n.input))
        out[n.name] = "context" if scaffold else "layer"
    return out


def own_kernels(kernels) -> tuple[float, str]:
    """The share of the layer's own kernels in a context graph's kernel time, and their names
    (``kernel_times``' role "layer")."""
    own = [(k, t) for _, k, t, role in kernels if role == "layer"]
    total = sum(t for *_, t, _ in kernels)
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
    evict_bytes: int  # bytes written over the caches before each run (EVICT, or a cache curve's size)
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
                  progress=None, clock=None, evicts=(EVICT,)) -> list[SuiteMeasurement]:
    """Time each ``Item`` (see ``sample``) under ``mnetcost.timing``'s protocol beside the null graph, and
    split each graph's time by the runtime's profiler (module docstring); ``clock`` as for ``timing.measure``.
    ``evicts``: the bytes written before each run, one timing of every graph per size (a cache curve's)."""
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
        timed = {size: time_sessions(sessions, repeat=repeat, passes=passes, seed=seed, progress=say, clock=clock,
                                     evict=size) for size in evicts}
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    runtime = f"onnxruntime {ort.__version__}"
    return [SuiteMeasurement(i.model, i.alpha, i.resolution, i.convention, i.layer,
                             max((t.latency_s - got[0].latency_s) * share, MIN_TIME) * 1e3, t.latency_s * 1e3,
                             got[0].latency_s * 1e3, size, share, names, i.stratum, t.pass_sd_pct, t.runs, passes, threads,
                             runtime, host(), stamp)
            for size, got in timed.items() for i, t, (share, names) in zip(items, got[1:], shares)]


def cache_probes(rows) -> list[Item]:
    """The layers a cache curve times again (``CACHE_SIZES``): one per 50 of the suite's timed layers (1 to
    ``CACHE_PROBES``), spread evenly over its slower half in order of time (a layer of a few microseconds
    would show the runtime's noise, not its caches)."""
    rows = sorted(rows, key=lambda m: (m.latency_ms, m.model, m.layer))[len(rows) // 2:]
    if not rows:
        return []
    count = min(CACHE_PROBES, max(1, len(rows) // 25))  # never more than the rows
    picks = sorted({round(x) for x in np.linspace(0, len(rows) - 1, count)})
    return [Item(m.model, m.alpha, m.resolution, m.convention, m.layer, m.stratum, m.latency_ms) for m in
            (rows[k] for k in picks)]


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
                row.update({k: exact(row[k]) for k in ("latency_ms", "graph_ms", "null_ms", "own_share")}, evict_bytes=int(m.evict_bytes),
                           pass_sd_pct=f"{m.pass_sd_pct:.2f}")
                w.writerow(row)
    except OSError as e:
        raise EnvironmentProblem(f"cannot write the suite's measurements {str(path)!r:.300}: {e.strerror or e}") from None


def run(table=None, *, size: int = SIZE, convention: str = "paper", output=None, passes=None, threads: int = 1,
        repeat=None, seed=None, runtime: str = "onnxruntime", progress=None, clock=None,
        adapt: bool = True) -> list[SuiteMeasurement]:
    """``mnetcost measure --suite``: sample the layers of the shipped tables (or of ``table``), time them
    (``measure_suite``), then (``adapt``) a quarter as many again where their fit errs most (``resample``),
    then the cache curve (``cache_probes`` timed again after writing each of ``CACHE_SIZES``), and write them
    to ``output`` (checked before any timing) when given."""
    from .timing import _check, check_output

    _check(runtime, threads, repeat, PASSES if passes is None else passes)
    if table is not None and not isinstance(table, str):
        raise UsageError(f"--for takes a table's name or path, got {table!r:.80}")
    models = None if table is None else [table]
    items = sample(models, size=size, convention=convention, seed=seed or 0)
    if output is not None:
        check_output(output, COLUMNS)
    timing = dict(threads=threads, passes=PASSES if passes is None else passes, repeat=repeat, seed=seed,
                  progress=progress, clock=clock)
    rows = measure_suite(items, **timing)
    more = resample(rows, models, extra=round(size * ADAPT / SIZE), convention=convention, seed=seed or 0) \
        if adapt else []
    rows += measure_suite(more, **timing) if more else []
    probes = cache_probes(rows)
    say = progress or (lambda message: None)
    say(f"the cache curve: {len(probes)} graphs after writing {CACHE_SIZES[0] >> 20} to {CACHE_SIZES[-1] >> 20} MB")
    rows += measure_suite(probes, **timing, evicts=CACHE_SIZES) if probes else []
    if output is not None:
        write_suite(rows, output)
    return rows
