"""Measure latency on this machine: build each configuration with the PyTorch builder, export it to
ONNX, and time it with ONNX Runtime on the CPU.

Optional: ``pip install "mnetcost[measure]"`` (torch, onnx, onnxruntime).

The protocol, because a shared machine's noise is of the order of the differences that matter: the
threads are pinned (``threads`` for intra- and inter-op work, sequential execution); each session is
warmed up; then ``passes`` passes run over all configurations, each pass in a new shuffled order,
each configuration ``repeat`` times per pass (by default as often as fits in about 40 ms, at least
once) after an untimed run that brings its weights back into the caches. Interference from other
work only ever adds time, in bursts lasting seconds that move a median by up to 30% while the
fastest runs stay within about 1%; short passes spread every configuration over all of it. The
passes are dealt into GROUPS interleaved groups (pass k to group k mod GROUPS); a configuration's
latency is the median of its groups' fastest runs, and the spread of those (standard deviation,
relative) is the noise of the figure itself; the interquartile range of all runs, relative to their
median, says how noisy single runs were. Batch 1, float32, the runtime's default graph
optimisations (BatchNorm folded), subnormal floats flushed to zero (``flushed_denormals``).
"""

from __future__ import annotations

import csv
import io
import itertools
import platform
import random
import time
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .config import whole
from .errors import EnvironmentProblem, UsageError

RUNTIMES = ("onnxruntime",)
GROUPS = 5
MAX_CONFIGS = 200
COLUMNS = ("model", "alpha", "resolution", "convention", "latency_ms", "median_ms", "iqr_pct", "pass_sd_pct", "runs", "passes",
           "threads", "runtime", "host", "date", "note")
REQUIRED = ("model", "alpha", "resolution", "latency_ms")


@dataclass
class Measurement:
    model: str
    alpha: float
    resolution: int
    convention: str
    latency_ms: float  # median over the groups of passes of each group's fastest run
    median_ms: float  # median of all runs
    iqr_pct: float  # interquartile range of all runs, % of their median
    pass_sd_pct: float  # standard deviation of the groups' fastest runs, % of the latency
    runs: int  # timed runs per pass
    passes: int
    threads: int
    runtime: str
    host: str
    date: str
    note: str = ""


def host() -> str:
    """The CPU's model name (Linux), else the platform's."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _imports():
    try:
        import onnxruntime
        import torch
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError as e:
        raise EnvironmentProblem(f"measuring needs torch, onnx and onnxruntime ({e.name} is missing): "
                                 'pip install "mnetcost[measure]"') from None
    return torch, onnxruntime


def export(model, *, alpha: float, resolution: int, convention: str) -> bytes:
    """The ONNX bytes of ``model`` at (alpha, resolution), built by the PyTorch builder."""
    torch, _ = _imports()
    from .torch import build

    net = build(model, alpha=alpha, resolution=resolution, convention=convention)
    x = torch.zeros(1, net.in_channels, resolution, resolution)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), buffer, dynamo=False, opset_version=17, input_names=["x"])
    return buffer.getvalue()


def configurations(models: str, alphas=None, resolutions=None, convention: str = "paper") -> list[dict]:
    """The configurations of models (comma-separated) x alphas x resolutions (default: each table's
    own resolution), each checked as ``check_config`` checks one, so that a bad one fails before anything
    is built."""
    from .tables import load_table

    if not isinstance(models, str):
        raise UsageError(f"models are table names or paths separated by commas, got {models!r:.80}")
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise UsageError("name a model to measure")
    out = []
    for name in names:
        table = load_table(name)
        for a in [1.0] if alphas is None else alphas:
            for r in [table.resolution] if resolutions is None else resolutions:
                out.append(check_config(dict(model=name, alpha=a, resolution=r, convention=convention), table))
                if len(out) > MAX_CONFIGS:
                    raise UsageError(f"measure at most {MAX_CONFIGS} configurations at a time")
    return out


CONFIG_KEYS = ("model", "alpha", "resolution", "convention")


def check_config(c, table=None) -> dict:
    """One configuration to measure, a dict of ``model`` (a table's name or path), ``alpha``, ``resolution``
    (square, whole pixels) and ``convention`` (default paper), checked by costing it and by the bound of
    every forward pass (``traffic.check_forward``), before anything is built. ``table``: the loaded table."""
    from .engine import cost_layers
    from .traffic import check_forward

    if not isinstance(c, dict) or not set(c) <= set(CONFIG_KEYS) or not {"model", "alpha", "resolution"} <= set(c):
        raise UsageError(f"a configuration to measure is a dict of {', '.join(CONFIG_KEYS)} (convention optional), "
                         f"got {c!r:.80}")
    if not isinstance(c["model"], str):
        raise UsageError(f"a configuration's model is a table's name or path, got {c['model']!r:.80}")
    r, layers, _ = cost_layers(c["model"] if table is None else table, alpha=c["alpha"], resolution=c["resolution"],
                               convention=c.get("convention", "paper"))
    if not isinstance(r.resolution, (int, np.integer)):
        raise UsageError(f"measure square inputs, got {r.resolution}")
    check_forward(r, layers, "measure")
    return dict(model=c["model"], alpha=r.alpha, resolution=int(r.resolution), convention=r.convention)


def check_output(path, columns=COLUMNS) -> None:
    """Fail now, not after the timing, if ``path`` cannot take the measurements: unwritable, or a CSV
    with another header than ``columns``."""
    p = Path(str(path)).expanduser()
    try:
        if p.is_file() and p.stat().st_size:
            with open(p, encoding="utf-8", newline="") as f:
                header = next(csv.reader(f), [])
            if tuple(h.strip() for h in header) != tuple(columns):
                raise UsageError(f"{p.name} has other columns than a measurements file written by mnetcost; "
                                 "append to a new file")
        with open(p, "a", encoding="utf-8"):
            pass
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise EnvironmentProblem(f"cannot write the measurements file {str(path)!r:.300}: "
                                 f"{getattr(e, 'strerror', None) or e}") from None


def _check(runtime, threads, repeat, passes):
    if runtime not in RUNTIMES:
        raise UsageError(f"unknown runtime {runtime!r:.40}; choose one of {', '.join(RUNTIMES)}")
    for name, value, top in (("threads", threads, 64), ("passes", passes, 1000)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise UsageError(f"{name} must be a whole number from 1 to {top}, got {value!r}")
    if repeat is not None and (isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 10_000):
        raise UsageError(f"repeat must be a whole number from 1 to 10000, got {repeat!r}")


def measure(configs, *, runtime: str = "onnxruntime", threads: int = 1, repeat: int | None = None, passes: int = 40,
            seed: int | None = None, progress=None, clock=None) -> list[Measurement]:
    """Time each configuration, a dict of ``model``, ``alpha``, ``resolution``, ``convention``, under
    the module's protocol (each checked by ``check_config``: a forward pass beyond ``traffic.FORWARD_LIMIT``
    bytes is refused before anything is built; running out of memory is an ``EnvironmentProblem``).
    ``progress(message)`` is told what is happening; ``clock``: as for ``time_sessions`` (on a shared
    machine ``time.thread_time`` with one thread: the runtime runs in the calling thread, so the time
    other processes hold the core is not counted)."""
    _check(runtime, threads, repeat, passes)
    if isinstance(configs, (str, bytes, dict)) or not hasattr(configs, "__iter__"):
        raise UsageError(f"configs is a list of configurations (dicts of {', '.join(CONFIG_KEYS)}), got {configs!r:.80}")
    configs = list(itertools.islice(configs, MAX_CONFIGS + 1))
    if not 1 <= len(configs) <= MAX_CONFIGS:
        raise UsageError(f"measure 1 to {MAX_CONFIGS} configurations at a time, got {len(configs)}")
    if seed is not None:
        whole(seed, "seed", low=0)
    if progress is not None and not callable(progress):
        raise UsageError(f"progress is a function of one message, got {progress!r:.80}")
    configs = [check_config(c) for c in configs]
    _, ort = _imports()
    from .errors import memory_guard

    say = progress or (lambda message: None)
    with memory_guard("measure"):
        sessions = [_session(ort, c, threads, say) for c in configs]
        timed = time_sessions(sessions, repeat=repeat, passes=passes, seed=seed, progress=say, clock=clock)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [Measurement(c["model"], float(c["alpha"]), int(c["resolution"]), c["convention"], t.latency_s * 1e3,
                        t.median_s * 1e3, t.iqr_pct, t.pass_sd_pct, t.runs, passes, threads,
                        f"{runtime} {ort.__version__}", host(), stamp) for c, t in zip(configs, timed)]


def _session(ort, c: dict, threads: int, say):
    """An ONNX Runtime session of configuration ``c`` and its input feed."""
    say(f"exporting {c['model']} {c['alpha']:g} {c['resolution']}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.add_session_config_entry("session.set_denormal_as_zero", "1")  # the runtime's own threads
    session = ort.InferenceSession(export(c["model"], alpha=c["alpha"], resolution=c["resolution"],
                                          convention=c["convention"]), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, session.get_inputs()[0].shape[1], c["resolution"],
                                                   c["resolution"])).astype(np.float32)
    return session, {"x": x}


@dataclass
class Timing:
    """One session's figures under the protocol."""

    latency_s: float  # median over the groups of passes of each group's fastest run
    median_s: float  # median of all timed runs
    iqr_pct: float  # interquartile range of all timed runs, % of their median
    pass_sd_pct: float  # standard deviation of the groups' fastest runs, % of the latency
    runs: int  # timed runs per pass


def time_sessions(sessions, *, repeat: int | None = None, passes: int = 40, seed: int | None = None, progress=None,
                  clock=None, evict: int = 0) -> list[Timing]:
    """The protocol on ``sessions``, (session, feed) pairs whose ``session.run(None, feed)`` is timed by
    ``clock`` (seconds): each warmed up; ``passes`` passes in a new shuffled order, each session run
    once untimed and then ``repeat`` times (default: as often as fits in about 40 ms, 1 to 100);
    pass k dealt to group k mod GROUPS. ``clock`` defaults to ``time.perf_counter``. Every run with
    subnormal floats flushed to zero (``flushed_denormals``). ``evict``: bytes written, untimed, before
    every run (0: none), so that each run finds the core's own caches holding something else, as a
    layer inside a network finds them (the operator suite's graphs)."""
    with flushed_denormals():
        return _protocol(sessions, repeat, passes, seed, progress, clock, _evictor(evict))


def _evictor(size: int):
    """A function that writes ``size`` bytes (nothing for 0)."""
    if not size:
        return lambda: None
    buffer = np.zeros(size // 4, dtype=np.float32)

    def evict():
        np.add(buffer, 1.0, out=buffer)
    return evict


def flushed_denormals():
    """A context in which the calling thread flushes subnormal floats to zero (the CPU's FTZ and DAZ
    modes, set through torch), restored after. An untrained network's activations shrink layer after
    layer (random weights, no trained normalisation; layer scale starts at 1e-5) until products such
    as attention's scores fall below 1e-38, and a CPU computes on such subnormal floats tens of times
    slower: V4 Hybrid-M timed about 22 ms instead of 13 ms, most of the difference in its last stage's
    attention. A trained network does not run there, so neither does the measurement. With one thread ONNX
    Runtime runs in the calling thread; its own threads get the session option
    ``session.set_denormal_as_zero``."""
    from contextlib import contextmanager

    @contextmanager
    def flushed():
        try:
            import torch
        except ImportError:  # nothing mnetcost times runs without torch (measure and the suite export with it):
            yield False  # only the protocol's own tests, on sessions that compute nothing, come here
            return
        on = torch.set_flush_denormal(True)
        try:
            yield on
        finally:
            if on:
                torch.set_flush_denormal(False)

    return flushed()


def _protocol(sessions, repeat, passes, seed, progress, clock, evict) -> list[Timing]:
    say = progress or (lambda message: None)
    clock = clock or time.perf_counter
    runs = [repeat] * len(sessions)
    for i, (session, feed) in enumerate(sessions):
        took = _warm_up(session, feed, clock, evict)
        if repeat is None:
            runs[i] = int(min(100, max(1, 0.04 / max(took, 1e-6))))
    groups = min(GROUPS, passes)
    fastest = np.full((len(sessions), groups), np.inf)
    times = [[] for _ in sessions]
    order = list(range(len(sessions)))
    rng = random.Random(seed)
    for p in range(passes):
        rng.shuffle(order)
        if p % 10 == 0:
            say(f"pass {p + 1} of {passes}")
        for i in order:
            session, feed = sessions[i]
            _time(session, feed, 1, clock, evict)  # caches refilled after the other configurations
            t = _time(session, feed, runs[i], clock, evict)
            fastest[i, p % groups] = min(fastest[i, p % groups], t.min())
            times[i].extend(t)
    out = []
    for low, t, n in zip(fastest, times, runs):
        latency, median = float(np.median(low)), float(np.median(t))
        iqr = float(np.percentile(t, 75) - np.percentile(t, 25)) / median
        out.append(Timing(latency, median, 100 * iqr, 100 * float(np.std(low)) / latency, n))
    return out


def _warm_up(session, feed, clock, evict) -> float:
    """Runs until 3 runs and 0.2 s have passed; the last run's seconds, the eviction before it included."""
    start = clock()
    count = 0
    while count < 3 or clock() - start < 0.2:
        t0 = clock()
        evict()
        session.run(None, feed)
        took = clock() - t0
        count += 1
    return took


def _time(session, feed, runs: int, clock, evict=lambda: None) -> np.ndarray:
    out = np.empty(runs)
    for k in range(runs):
        evict()
        t0 = clock()
        session.run(None, feed)
        out[k] = clock() - t0
    return out


def append(measurements, path) -> None:
    """Append rows to the measurements CSV at ``path``, writing its header first if it is new. A user's table
    is written as its path relative to the measurements file (``tables.table_reference``), where
    ``read_measurements`` looks for it."""
    from .latency import exact
    from .tables import table_reference

    p = Path(str(path)).expanduser()
    try:
        new = not p.exists() or p.stat().st_size == 0
        with open(p, "a", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, COLUMNS, lineterminator="\n")
            if new:
                w.writeheader()
            for m in measurements:
                row = asdict(m)
                row["model"] = table_reference(m.model, p)
                row.update(latency_ms=exact(m.latency_ms), median_ms=exact(m.median_ms), iqr_pct=f"{m.iqr_pct:.2f}",
                           pass_sd_pct=f"{m.pass_sd_pct:.2f}")  # the latencies read back as the very floats
                w.writerow(row)
    except OSError as e:
        raise EnvironmentProblem(f"cannot write the measurements file {str(path)!r:.300}: {e.strerror or e}") from None
