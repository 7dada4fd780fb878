"""Activation memory, traffic and the roofline: V2 Table 3, hand-computed cases, properties, bad input."""

import csv
import math
from pathlib import Path

import pytest

import mnetcost
from mnetcost.errors import UsageError
from mnetcost.latency import parse_rate, roofline
from mnetcost.traffic import memory

TABLE3 = list(csv.DictReader(open(Path(__file__).resolve().parent.parent / "tables" / "reference" / "v2_table3.csv")))


def two_digits(x: float) -> float:
    return round(x, -int(math.floor(math.log10(abs(x)))) + 1)


def test_v2_table3_max_row():
    """1600K for MobileNetV1 and 400K for MobileNetV2 at 16 bits: 112*112*64*2 and 112*112*16*2 bytes."""
    assert memory("v1", dtype="float16").peak_bytes == 112 * 112 * 64 * 2
    assert memory("v2", dtype="float16").peak_bytes == 112 * 112 * 16 * 2


@pytest.mark.parametrize("row", TABLE3, ids=[f"{r['network']}-{r['resolution']}" for r in TABLE3])
def test_v2_table3_cell(row):
    """Each cell of V2 Table 3 (arXiv v4) from the materialized schedule: channels exactly, memory in
    units of 1000 bytes to two significant digits; cells recorded as errata must differ."""
    m = memory(row["network"], dtype="float16")
    if row["resolution"] == "max":
        ours_c, ours_kb = None, two_digits(m.peak_bytes / 1000)
    else:
        by = m.by_resolution().set_index("resolution").loc[int(row["resolution"])]
        ours_c, ours_kb = int(by["channels"]), two_digits(by["bytes"] / 1000)
    if row["channels"]:
        assert (ours_c == int(row["channels"])) == (row["verdict_channels"] == "match"), (ours_c, row)
    assert (ours_kb == float(row["memory_kb"])) == (row["verdict_memory"] == "match"), (ours_kb, row)
    if "erratum" in (row["verdict_channels"], row["verdict_memory"]):
        assert row["reason"]


TINY = "# family: v2\n# resolution: 8\nstage,op,kernel,t,out,n,stride\nc1,conv,3,,8,1,2\nb1,bneck,3,2,8,1,1\npool,pool,,,,1,1\nfc,fc,1,,k,1,1\n"


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text(TINY)
    return str(path)


def test_hand_computed_tiny_network(tiny):
    """8x8x3 -> conv 3x3/2 -> 4x4x8 -> bneck(t=2): expand 8->16, dw 3x3, project 16->8, add -> pool -> fc(3).
    int8: one byte per value. Tensors: input 192, c1 128, expand 256, dw 256, project 128, add 128, pool 8, fc 3."""
    m = memory(tiny, classes=3, dtype="int8", schedule="layerwise")
    L = m.layers.set_index("name")
    assert (L.loc["c1", "in_bytes"], L.loc["c1", "out_bytes"]) == (192, 128)
    assert L.loc["c1", "weight_bytes"] == 3 * 3 * 3 * 8 + 8  # weights + folded BatchNorm bias
    assert L.loc["b1.expand", "weight_bytes"] == 8 * 16 + 16
    assert L.loc["b1.dw", "weight_bytes"] == 9 * 16 + 16
    assert L.loc["fc", "weight_bytes"] == 8 * 3 + 3
    # live: c1 = input + output; expand = held c1 + its output; dw = held c1 + in + out; ...
    assert list(L["live_bytes"]) == [192 + 128, 128 + 256, 128 + 256 + 256, 128 + 256 + 128, 128 + 128 + 128, 128 + 8, 8 + 3]
    assert L.loc["b1.add", "in_bytes"] == 128 + 128 and L.loc["b1.add", "bytes_moved"] == 384
    assert L.loc["b1.add", "intensity"] == 0
    assert L.loc["b1.expand", "intensity"] == pytest.approx(16 * 8 * 16 / (128 + 144 + 256))
    assert (m.peak_bytes, m.peak_layer) == (640, "b1.dw")
    # materialized: c1's output stays (b1 starts with an expansion, not a depthwise conv); b1's output
    # streams into the global pool; the input image is the largest materialized tensor
    mat = memory(tiny, classes=3, dtype="int8")
    assert list(mat.layers.query("materialized")["name"]) == ["c1", "pool", "fc"]
    assert (mat.peak_bytes, mat.peak_layer) == (192, "input")


@pytest.mark.parametrize("schedule", ["layerwise", "materialized"])
@pytest.mark.parametrize("name", ["v1", "v2", "v3-large", "v3-small"])
def test_peak_scales_with_rho_squared_and_dtype(name, schedule):
    full = memory(name, resolution=224, dtype="float32", schedule=schedule)
    half = memory(name, resolution=112, dtype="float32", schedule=schedule)
    assert full.peak_bytes == 4 * half.peak_bytes  # 224 and 112 are both multiples of the total stride
    assert full.weight_bytes == half.weight_bytes
    for dtype, size in (("float16", 2), ("int8", 1)):
        assert memory(name, resolution=224, dtype=dtype, schedule=schedule).peak_bytes * 4 == full.peak_bytes * size


def test_layerwise_never_below_materialized():
    for name in mnetcost.model_names():
        assert memory(name, schedule="layerwise").peak_bytes >= memory(name).peak_bytes


def test_roofline_time_is_the_bound():
    r = roofline("v2", device="pixel1-v3-paper")
    L = r.layers
    mem = L[L["bound"] == "memory"]
    assert (mem["time_s"] == mem["bytes_moved"] / r.device.bandwidth).all()
    comp = L[L["bound"] == "compute"]
    assert (comp["time_s"] == comp["mult_adds"] / r.device.peak_macs).all()
    assert r.latency_s == pytest.approx(L["time_s"].sum())
    # depthwise layers and residual adds are the memory-bound ones; pointwise layers are not
    assert set(L[L["op"] == "dw"]["bound"]) == {"memory"} and set(L[L["op"] == "pw"]["bound"]) == {"compute"}


def test_inline_device_and_units():
    a = roofline("v3-small", peak_macs="0.96G", bandwidth="1.92G", dtype="int8")
    b = roofline("v3-small", device="cortex-m7-480")
    assert a.latency_s == pytest.approx(b.latency_s)
    assert parse_rate("17.2G", "x") == 17.2e9 and parse_rate(5e8, "x") == 5e8


@pytest.mark.parametrize("kwargs, message", [
    ({"dtype": "float64"}, "unknown dtype 'float64'"),
    ({"schedule": "greedy"}, "unknown schedule 'greedy'"),
])
def test_memory_bad_input(kwargs, message):
    with pytest.raises(UsageError, match=message):
        memory("v2", **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"device": "pixel9"}, "unknown device 'pixel9'"),
    ({"peak_macs": "0", "bandwidth": "1G"}, "peak MAC rate must be a positive number"),
    ({"peak_macs": "-5G", "bandwidth": "1G"}, "peak MAC rate must be a positive number"),
    ({"peak_macs": "1G", "bandwidth": "fast"}, "bandwidth must be a positive number"),
    ({"peak_macs": "1G"}, "needs a device"),
    ({"device": "cortex-m7-480", "peak_macs": "1G"}, "not both"),
])
def test_roofline_bad_input(kwargs, message):
    with pytest.raises(UsageError, match=message):
        roofline("v2", **kwargs)


@pytest.mark.parametrize("device, ridge", [("pixel6-cpu-int8", 31.2), ("s23-cpu-int8", 39.7),
                                           ("pixel4-dsp-int8", 347.3), ("pixel8-edgetpu-int8", 433.8)])
def test_v4_table16_devices(device, ridge):
    """The ridge points are V4 Table 16's (int8); the profile is fitted to the device's Table 6 column."""
    d = mnetcost.devices()[device]
    assert d.peak_macs / d.bandwidth == pytest.approx(ridge, rel=1e-5) and d.dtype == "int8"
    assert d.held_out is not None and "Table 6" in d.source


def test_ridge_sweep_is_the_roofline_in_mac_units():
    """RP = 0 counts MACs; at any RP the time equals roofline() on a device of that ridge point, times its peak."""
    from mnetcost.latency import ridge_sweep

    configs = {"v2": {"model": "v2"}, "hm": {"model": "v4-hybrid-medium", "convention": "timm"}}
    frame = ridge_sweep(configs, [0, 39.7, 433.8])
    assert frame.loc[0.0, "v2"] == mnetcost.cost("v2").mult_adds
    for rp in (39.7, 433.8):
        r = mnetcost.roofline("v4-hybrid-medium", convention="timm", dtype="int8", peak_macs=1e12, bandwidth=1e12 / rp)
        assert frame.loc[rp, "hm"] == pytest.approx(r.latency_s * 1e12, rel=1e-12)
    with pytest.raises(mnetcost.UsageError):
        ridge_sweep(configs, [-1])
