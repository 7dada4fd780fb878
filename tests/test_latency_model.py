"""The device model (latency.py), its calibration (calibration.py), device files, measurement files,
the shipped profiles and choose: hand-checked cases, a synthetic device recovered, properties, bad input."""

import csv
import io
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mnetcost
from mnetcost.calibration import (Observation, calibrate, calibrate_published, latency_sets, nnls,
                                  published_latencies, read_measurements)
from mnetcost.cli import main
from mnetcost.errors import TableError, UsageError
from mnetcost.latency import Device, devices, get_device, latency_grid, read_devices, roofline, write_device
from mnetcost.traffic import memory

MODELS = ("v1", "v2", "v3-large", "v3-small", "v4-conv-small", "v4-hybrid-medium", "efficientnet-b0",
          "ssdlite-v3-large", "deeplabv3-v2")
RICH = Device("rich", 4e10, 2e10, "float32", "", rates=(("dw", 1e10), ("fc", 5e9), ("attn", 2e10)),
              costs=(("layer", 2e-6), ("se_block", 1e-5), ("attn_block", 4e-5), ("relu6", 2e-10), ("hswish", 3e-10),
                     ("se", 2e-9), ("add", 4e-10), ("weights", 1.5e-10), ("unaligned_dw", 3e-9), ("pool", 1e-10)))


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("model", MODELS)
def test_a_plain_device_is_eq1_of_the_memory_model(model):
    """Peak rate and bandwidth only: sum over layers of max(MACs / peak, bytes / bandwidth), with
    memory()'s MACs and bytes."""
    d = Device("plain", 3e9, 5e9)
    c = memory(model, alpha=0.75, resolution=None, dtype="float32").columns
    expected = np.maximum(np.asarray(c["mult_adds"], float) / 3e9, np.asarray(c["bytes_moved"], float) / 5e9).sum()
    assert roofline(model, alpha=0.75, device=d).latency_s == pytest.approx(expected, rel=1e-12)


def test_each_term_by_hand():
    """V2 at 1.0/224 on a device with one term at a time: the term's count times its cost."""
    c = mnetcost.cost("v2")
    base = Device("b", math.inf, math.inf)
    one = lambda **kw: roofline("v2", device=Device("t", math.inf, math.inf, costs=tuple(kw.items()))).latency_s
    assert roofline("v2", device=base).latency_s == 0
    assert one(layer=1.0) == len(c.columns["name"])
    assert one(weights=1.0) == int(c.columns["weights"].sum())
    acts = c.columns["act"] == "RE6"
    assert one(relu6=1.0) == int(c.columns["activations"][acts].sum())
    adds = c.columns["op"] == "add"
    assert one(add=1.0) == int(c.columns["activations"][adds].sum())
    dw = Device("dw", math.inf, math.inf, rates=(("dw", 1.0),))
    assert roofline("v2", device=dw).latency_s == int(c.columns["mult_adds"][c.columns["op"] == "dw"].sum())


# a suite's profile: dilated convolutions at a rate of their own, and a cache curve whose knee the grid's
# configurations straddle (each resolution's network touches its own bytes)
CURVED = Device("curved", 4e10, 2e10, "float32", "", rates=RICH.rates + (("dilated", 3e10),), costs=RICH.costs,
                cache=((4e6, 1.0), (3e7, 1.3)))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("device", [RICH, CURVED], ids=["rich", "curved"])
def test_the_grid_is_the_roofline_point_by_point(model, device):
    alphas, res = [0.5, 1.0], [128, 224]
    g = latency_grid(model, alphas, res, device)
    for i, a in enumerate(alphas):
        for j, r in enumerate(res):
            assert g[i, j] == pytest.approx(roofline(model, alpha=a, resolution=r, device=device).latency_s, rel=1e-12)


def _synthetic(device, configs):
    return [Observation("synthetic", m, a, r, "paper", roofline(m, alpha=a, resolution=r, device=device).latency_s)
            for m, a, r in configs]


CONFIGS = [(m, a, r) for m in ("v1", "v2", "v3-large", "v4-conv-small") for a in (0.5, 0.75, 1.0, 1.4)
           for r in (96, 160, 224)]


def test_calibration_recovers_a_known_device():
    """Latencies made by a device of the model's own form are fitted back to it, and predicted
    exactly when held out."""
    truth = Device("truth", 4e10, math.inf, rates=(("dw", 1e10),),
                   costs=(("layer", 2e-6), ("relu6", 2e-10), ("hswish", 3e-10), ("se", 2e-9), ("weights", 1.5e-10)))
    c = calibrate(_synthetic(truth, CONFIGS), form="full")
    d = c.device
    assert d.peak_macs == pytest.approx(4e10, rel=1e-6) and d.rate("dw") == pytest.approx(1e10, rel=1e-6)
    for term, value in truth.costs:
        assert d.cost(term) == pytest.approx(value, rel=1e-6, abs=1e-15), term
    assert c.train_error < 1e-8 and c.held_out.within_10 == 1.0 and c.held_out.mean_error < 1e-6


def test_calibration_finds_a_bandwidth():
    truth = Device("truth", 6e9, 4e9)
    c = calibrate(_synthetic(truth, CONFIGS[:18]), form="roofline")
    assert c.train_error < 0.01
    assert c.device.bandwidth == pytest.approx(4e9, rel=0.1) and c.device.peak_macs == pytest.approx(6e9, rel=0.05)


def test_a_fixed_ridge_point_is_kept():
    truth = Device("truth", 1e11, 1e11 / 31.2)
    c = calibrate(_synthetic(truth, CONFIGS[:12]), form="roofline", ridge_point=31.2, holdout="row")
    assert c.device.ridge_point == pytest.approx(31.2) and c.device.peak_macs == pytest.approx(1e11, rel=1e-9)


def test_held_out_predictions_never_see_their_group():
    """Changing one network's latencies changes no held-out prediction of that network."""
    obs = _synthetic(RICH, CONFIGS)
    a = calibrate(obs, form="classes").table
    changed = [Observation(o.source, o.model, o.alpha, o.resolution, o.convention,
                           o.latency_s * (3 if (o.model, o.alpha) == ("v2", 0.75) else 1)) for o in obs]
    b = calibrate(changed, form="classes").table
    mine = (a["model"] == "v2") & (a["alpha"] == 0.75)
    assert np.allclose(a.loc[mine, "predicted_ms"], b.loc[mine, "predicted_ms"])
    assert not np.allclose(a.loc[~mine, "predicted_ms"], b.loc[~mine, "predicted_ms"])


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_nnls_meets_its_optimality_conditions(n, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n + 4, n)), rng.standard_normal(n + 4)
    x = nnls(a, b)
    grad = a.T @ (b - a @ x)
    assert np.all(x >= 0)
    assert np.all(np.abs(grad[x > 0]) < 1e-8) and np.all(grad[x == 0] < 1e-8)


def test_device_file_round_trip(tmp_path):
    path = tmp_path / "d.csv"
    c = calibrate(_synthetic(RICH, CONFIGS), name="mine")
    write_device(c.device, path)
    write_device(Device("plain", 1e9, math.inf), path)
    found = read_devices(path)
    assert list(found) == ["mine", "plain"]
    d = found["mine"]
    assert d.held_out.within_10 == pytest.approx(c.held_out.within_10, abs=1e-4)
    for name in ("ssdlite-v2", "v3-small"):
        assert roofline(name, device=d).latency_s == pytest.approx(roofline(name, device=c.device).latency_s, rel=1e-5)
    assert get_device(device_file=path, device="plain").bandwidth == math.inf
    with pytest.raises(UsageError, match="holds 2 devices"):
        get_device(device_file=path)


@pytest.mark.parametrize("text, message", [
    ("name,peak_macs\nx,1e9\n", "missing column"),
    ("name,peak_macs,bandwidth,speed\nx,1e9,1e9,3\n", "unknown column"),
    ("name,peak_macs,bandwidth\nx,fast,1e9\n", "column peak_macs: not a number"),
    ("name,peak_macs,bandwidth\nx,-1,1e9\n", "must be a positive"),
    ("name,peak_macs,bandwidth\nx,nan,1e9\n", "must be a positive"),
    ("name,peak_macs,bandwidth,terms\nx,1e9,1e9,warp=3\n", "column terms"),
    ("name,peak_macs,bandwidth,terms\nx,1e9,1e9,layer=-1\n", "non-negative"),
    ("name,peak_macs,bandwidth,terms\nx,1e9,1e9,layer=1;layer=2\n", "twice"),
    ("name,peak_macs,bandwidth\nx,1e9,1e9\nx,1e9,1e9\n", "appears twice"),
    ("name,peak_macs,bandwidth,dtype\nx,1e9,1e9,float64\n", "column dtype"),
    ("name,peak_macs,bandwidth\n", "no records"),
    ("", "no header"),
    ("name,peak_macs,bandwidth\nx,1e9,1e9,extra\n", "more than the header"),
    ("name,peak_macs,bandwidth\nx\x07,1e9,1e9\n", "control character"),
])
def test_bad_device_files(tmp_path, text, message):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(TableError, match=message):
        read_devices(path)


@pytest.mark.parametrize("text, message", [
    ("model,alpha,resolution\nv2,1,224\n", "missing column"),
    ("model,alpha,resolution,latency_ms\nv9,1,224,3\n", "unknown model"),
    ("model,alpha,resolution,latency_ms\nv2,1,224.5,3\n", "whole number"),
    ("model,alpha,resolution,latency_ms\nv2,1,224,-3\n", "positive"),
    ("model,alpha,resolution,latency_ms\nv2,1,224,inf\n", "finite"),
    ("model,alpha,resolution,latency_ms\nv2,0,224,3\n", "positive"),
    ("model,alpha,resolution,latency_ms,convention\nv2,1,224,3,nope\n", "convention"),
])
def test_bad_measurement_files(tmp_path, text, message):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(TableError, match=message):
        read_measurements(path)


def test_binary_and_missing_files(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TableError, match="not UTF-8"):
        read_measurements(path)
    with pytest.raises(UsageError, match="no measurements file"):
        read_measurements(tmp_path / "none.csv")


def test_a_minimal_measurements_file_calibrates(tmp_path, capsys):
    """Measurements from anywhere: four columns are enough; the CLI saves a profile others accept."""
    path, out = tmp_path / "phone.csv", tmp_path / "phone-device.csv"
    rows = ["model,alpha,resolution,latency_ms"] + [f"{o.model},{o.alpha},{o.resolution},{o.latency_s * 1e3:.6f}"
                                                    for o in _synthetic(RICH, CONFIGS)]
    path.write_text("\n".join(rows) + "\n")
    code, text, err = run(capsys, "calibrate", "-m", str(path), "-o", str(out), "--name", "phone", "-f", "json")
    assert code == 0, err
    import json

    doc = json.loads(text)
    assert doc["device"]["name"] == "phone" and doc["device"]["held_out"]["within_10"] >= 0.9
    assert len(doc["rows"]) == len(CONFIGS)
    code, text, err = run(capsys, "roofline", "v2", "--device-file", str(out), "-f", "json")
    assert code == 0 and json.loads(text)["latency_s"] == pytest.approx(roofline("v2", device=RICH).latency_s, rel=1e-4)
    code, text, err = run(capsys, "fit", "v2", "--max-latency", "5ms", "--device-file", str(out), "-f", "csv")
    assert code == 0, err
    fitted = list(csv.DictReader(io.StringIO(text)))
    assert fitted and all(float(r["latency_ms"]) <= 5 for r in fitted)
    code, text, err = run(capsys, "devices", "--device-file", str(out))
    assert code == 0 and "phone" in text


# ---- the shipped profiles ------------------------------------------------------------------------------------

SETS = list(latency_sets().index)


@pytest.mark.parametrize("name", SETS)
def test_each_shipped_profile_is_its_published_sets_fit(name):
    """devices.csv holds, for each published latency set, what calibrate fits to it, with its held-out error."""
    spec = latency_sets().loc[name]
    c = calibrate_published(name)
    d = devices()[spec["profile"]]
    assert d.dtype == spec["dtype"] and d.held_out is not None
    assert d.peak_macs == pytest.approx(c.device.peak_macs, rel=1e-5)
    assert d.bandwidth == pytest.approx(c.device.bandwidth, rel=1e-5)
    assert dict(d.rates) == pytest.approx(dict(c.device.rates), rel=1e-5)
    assert dict(d.costs) == pytest.approx(dict(c.device.costs), rel=1e-5, abs=1e-18)
    h, k = d.held_out, c.held_out
    assert (h.method, h.n) == (k.method, k.n)
    for field in ("within_10", "mean_error", "proxy_within_10", "proxy_mean_error"):
        assert getattr(h, field) == pytest.approx(getattr(k, field), abs=1e-4), field
    if spec["ridge_point"]:
        assert d.ridge_point == pytest.approx(float(spec["ridge_point"]), rel=1e-5)


def test_a_published_set_takes_a_profile_name(capsys):
    assert calibrate_published("v3-paper", name="mine").device.name == "mine"
    code, out, err = run(capsys, "calibrate", "--published", "v3-paper", "--name", "mine", "-f", "json")
    assert code == 0 and '"name": "mine"' in out, err


def test_every_shipped_profile_states_its_held_out_error_or_its_assumption():
    for d in devices().values():
        assert d.held_out is not None or d.source.startswith("Assumption"), d.name


@pytest.mark.parametrize("name", SETS)
def test_published_sets_hold_their_rows(name):
    obs = published_latencies(name)
    assert len(obs) >= 3 and all(o.latency_s > 0 for o in obs)


def test_table6_rows_without_a_latency_are_left_out():
    assert len(published_latencies("v4-pixel4-dsp")) == 9 and len(published_latencies("v4-pixel6-cpu")) == 11


# ---- choose and fit ------------------------------------------------------------------------------------------

def test_choose_ranks_published_checkpoints_within_the_budget():
    frame = mnetcost.choose(device="pixel1-big-core", max_latency=0.03, max_params=4e6)
    assert len(frame) > 0 and (frame["latency_ms"] <= 30).all() and (frame["params"] <= 4e6).all()
    assert list(frame["top1"]) == sorted(frame["top1"], reverse=True)
    acc = mnetcost.reference.accuracy()
    assert set(frame["checkpoint"]) <= set(acc["checkpoint"])
    for _, r in frame.head(8).iterrows():
        c = mnetcost.cost(r["model"], alpha=r["alpha"], resolution=int(r["resolution"]), convention=r["convention"],
                          classes=int(r["classes"]))
        assert (r["macs"], r["params"]) == (c.macs, c.params)
        rf = roofline(r["model"], alpha=r["alpha"], resolution=int(r["resolution"]), convention=r["convention"],
                      classes=int(r["classes"]), device="pixel1-big-core")
        assert r["latency_ms"] == pytest.approx(rf.latency_s * 1e3, rel=1e-9)


def test_choose_pareto_is_never_beaten():
    frame = mnetcost.choose(device="pixel6-cpu-int8")
    t, a = frame["latency_ms"].to_numpy(), frame["top1"].to_numpy()
    for i in range(len(frame)):
        beaten = ((a >= a[i]) & (t <= t[i]) & ((a > a[i]) | (t < t[i]))).any()
        assert frame["pareto"].iloc[i] == (not beaten)
    assert frame["pareto"].any()


def test_choose_never_invents_an_accuracy():
    acc = mnetcost.reference.accuracy().set_index(["source", "checkpoint"])["top1"]
    frame = mnetcost.choose(max_macs=3e8)
    for _, r in frame.iterrows():
        assert acc.loc[(r["source"], r["checkpoint"])] == r["top1"]


def test_fit_latency_column_is_the_roofline():
    frame = mnetcost.fit("v3-small", [0.5, 1.0], [160, 224], max_latency=1.0, device="pixel1-big-core")
    for _, r in frame.iterrows():
        rf = roofline("v3-small", alpha=r["alpha"], resolution=int(r["resolution"]), device="pixel1-big-core")
        assert r["latency_ms"] == pytest.approx(rf.latency_s * 1e3, rel=1e-12)


@pytest.mark.parametrize("args, message", [
    (["choose", "--max-latency", "20ms"], "needs a device"),
    (["choose", "-d", "pixel1-big-core", "--max-latency", "fast"], "a time such as 20ms"),
    (["choose", "-d", "pixel1-big-core", "--max-latency", "-3ms"], "must be a positive number"),
    (["choose", "-d", "pixel1-big-core", "--max-latency", "nan"], "must be a positive number"),
    (["choose", "--source", "imagenet-hub"], "unknown accuracy source"),
    (["choose", "-d", "nope"], "unknown device"),
    (["fit", "v2", "--max-latency", "20ms"], "needs a device"),
    (["calibrate", "--published", "nope"], "unknown latency set"),
    (["calibrate", "--published", "tf-slim", "--measurements", "x.csv"], "not both"),
    (["calibrate", "--measurements", "no/such.csv"], "no measurements file"),
    (["calibrate", "--published", "tf-slim", "--ridge-point", "-3"], "ridge point must be a positive"),
    (["roofline", "v2", "--device-file", "no/such.csv"], "no device file"),
    (["measure", "v2", "--alpha", "0"], "alpha"),
    (["measure", "v9"], "unknown model"),
])
def test_bad_options_are_one_line(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_choose_cli_lists_pareto_rows(capsys):
    code, out, err = run(capsys, "choose", "-d", "pixel1-big-core", "--max-latency", "25ms", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows and all(float(r["latency_ms"]) <= 25 for r in rows)
    assert any(r["pareto"] == "True" for r in rows)
    code, out, err = run(capsys, "choose", "-d", "pixel1-big-core", "--max-latency", "25ms")
    assert code == 0 and "Pareto" in out and "never estimated" in out


def test_devices_cli_states_held_out_error(capsys):
    code, out, err = run(capsys, "devices", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and {r["name"] for r in rows} == set(devices())
    assert all(r["within_10"] or r["source"].startswith("Assumption") for r in rows)


def test_measure_without_the_extra_is_one_line(capsys, monkeypatch):
    """Without onnxruntime (or torch, or onnx): exit 3 and the install command, never a traceback."""
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    code, out, err = run(capsys, "measure", "v2", "--passes", "1")
    assert code == 3 and 'pip install "mnetcost[measure]"' in err and err.count("\n") == 1
