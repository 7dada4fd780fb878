"""Measuring with ONNX Runtime: every shipped table exports and runs, the CLI appends measurements
that calibrate reads back. Runs whenever torch, onnx and onnxruntime are installed (the measure
extra); CI sets MNETCOST_REQUIRE_TORCH=1 so that these tests can never skip there. No timing is
asserted: only that the protocol yields positive, finite figures."""

import csv
import json
import math
import os

import pytest

from mnetcost.cli import main
from mnetcost.tables import load_table, model_names

if os.environ.get("MNETCOST_REQUIRE_TORCH"):
    import onnx  # noqa: F401  (a missing extra fails here, loudly)
    import onnxruntime  # noqa: F401
else:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    pytest.importorskip("torch")

from mnetcost.timing import COLUMNS, configurations, measure  # noqa: E402

pytestmark = pytest.mark.measure


SMALLER = {"v5-300m": 256}  # its own 768 px takes minutes to export and run: CI measures it at 256 px


def test_every_shipped_table_exports_and_runs():
    """One pass, one run each, at each table's own resolution (V5-300M at 256 px) and alpha 0.5 (graphs, heads,
    V4 and V5 included)."""
    configs = [c for name in model_names()
               for c in configurations(name, [0.5], [SMALLER[name]] if name in SMALLER else None, "paper")]
    rows = measure(configs, passes=1, repeat=1)
    assert len(rows) == len(model_names())
    for r in rows:
        assert r.latency_ms > 0 and math.isfinite(r.latency_ms)
        assert r.resolution == SMALLER.get(r.model, load_table(r.model).resolution)


def test_measure_appends_and_calibrate_reads_back(tmp_path, capsys):
    out = tmp_path / "m.csv"
    args = ["measure", "v3-small,v2", "--alpha", "0.5", "--resolution", "96,128", "--passes", "3", "--repeat", "2",
            "-o", str(out), "-f", "json"]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert len(rows) == 4 and all(r["latency_ms"] > 0 and r["pass_sd_pct"] >= 0 for r in rows)
    assert main(args) == 0
    capsys.readouterr()
    with open(out, newline="") as f:
        written = list(csv.DictReader(f))
    assert len(written) == 8 and tuple(written[0]) == COLUMNS and written[0]["runtime"].startswith("onnxruntime")
    assert main(["calibrate", "-m", str(out), "--form", "overhead", "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert len(d["rows"]) == 8 and d["device"]["held_out"]["n"] == 8


def test_measure_refuses_a_file_with_other_columns(tmp_path, capsys):
    out = tmp_path / "m.csv"
    out.write_text("model,alpha,resolution,latency_ms\nv2,1,224,3\n")
    assert main(["measure", "v2", "-o", str(out)]) == 2
    assert "other columns" in capsys.readouterr().err


def test_measure_is_bounded_and_out_of_memory_is_the_environment(monkeypatch):
    """Issue 20: a forward pass beyond traffic.FORWARD_LIMIT is refused before anything is built (the CLI's
    measure v2 -r 2048 took 4.7 GB), and ONNX Runtime's failed allocation is an EnvironmentProblem (exit 3)."""
    import mnetcost.timing as timing
    from mnetcost.errors import EnvironmentProblem, UsageError

    with pytest.raises(UsageError, match="limit of 1,074 MB"):
        configurations("v2", None, [4096])
    assert main(["measure", "v2", "-r", "4096", "--passes", "1", "--repeat", "1"]) == 2

    def no_memory(*args, **kwargs):
        raise RuntimeError("onnxruntime::BFCArena::AllocateRawInternal Failed to allocate memory for requested buffer")

    monkeypatch.setattr(timing, "_session", no_memory)
    with pytest.raises(EnvironmentProblem, match="ran out of memory"):
        measure(configurations("v3-small", [0.5], [96]), passes=1, repeat=1)
    assert main(["measure", "v3-small", "-a", "0.5", "-r", "96", "--passes", "1", "--repeat", "1"]) == 3


def _mul_graph():
    """y = a * b on float32 vectors: ONNX Runtime's own kernel, no torch in the arithmetic."""
    from onnx import TensorProto, helper

    x = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [4]) for n in ("a", "b")]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    graph = helper.make_graph([helper.make_node("Mul", ["a", "b"], ["y"])], "mul", x, [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_the_protocol_flushes_subnormal_floats_and_restores_the_thread_after():
    """An untrained network's tiny activations make subnormal products, which a CPU computes tens of times
    slower than a trained network ever runs: inside the protocol ONNX Runtime (one thread, the caller's)
    flushes 1e-20 x 1e-20 to 0; outside it the product is the subnormal 1e-40 again."""
    import numpy as np
    import onnxruntime as ort

    from mnetcost.timing import flushed_denormals, time_sessions

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(_mul_graph(), options, providers=["CPUExecutionProvider"])
    feed = {n: np.full(4, 1e-20, np.float32) for n in ("a", "b")}
    before = session.run(None, feed)[0]
    assert np.all(before > 0) and np.all(before < np.finfo(np.float32).tiny)  # subnormal
    with flushed_denormals():
        assert np.all(session.run(None, feed)[0] == 0)
    assert np.array_equal(session.run(None, feed)[0], before)

    seen = []

    class Recording:
        def run(self, names, feed):
            seen.append(session.run(None, feed)[0].copy())

    time_sessions([(Recording(), feed)], repeat=1, passes=1)
    assert seen and all(np.all(y == 0) for y in seen)
    assert np.array_equal(session.run(None, feed)[0], before)
