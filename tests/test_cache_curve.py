"""The operator suite's cache curve (issue #24): a layer runs slower the more bytes pass through the caches
between two of its runs. The suite times a few of its graphs again after writing 1 MB to 512 MB; calibrate
fits the curve; the device model charges a network by the bytes it touches per call (weights and the
activations it writes). Expected values here are worked out by hand from the formulas in
``latency.cache_factor`` and the table's own shapes, never by the code under test."""

import math

import pytest

from mnetcost.calibration import Observation, calibrate, read_measurements
from mnetcost.latency import Device, cache_factor, configuration_terms, read_devices, roofline, write_device

MB = 1 << 20
TINY = """# name: tiny
# title: a two-layer network whose bytes are counted by hand
# family: v1
# resolution: 16
stage,input,operator,op,kernel,t,exp,out,n,stride,se,nl,bn,width,source
conv1,16x16x3,Conv 3x3,conv,3,,,8,1,1,,RE,1,stem,hand
sep1,16x16x8,dw 3x3 s2 + pw,dwsep,3,,,16,1,2,,RE,1,,hand
"""


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text(TINY)
    return str(path)


def test_the_factor_interpolates_in_log_bytes_and_is_flat_beyond_the_curve():
    d = Device("c", 1e10, math.inf, cache=((8 * MB, 1.0), (32 * MB, 1.5)))
    assert cache_factor(d, 16 * MB) == pytest.approx(1.25)  # halfway in log2: 8 -> 16 -> 32
    assert cache_factor(d, 1 * MB) == pytest.approx(1.0) and cache_factor(d, 1 << 40) == pytest.approx(1.5)
    assert cache_factor(Device("none", 1e10, math.inf), 1 << 40) == 1.0


def test_a_networks_bytes_per_call_are_its_weights_and_the_outputs_it_writes(tiny):
    # weights 3*3*3*8 + 3*3*8 + 8*16 = 416, a folded BatchNorm's bias per output channel 8 + 8 + 16 = 32;
    # outputs 16*16*8 + 8*8*8 + 8*8*16 = 3,584 elements; float32: (416 + 32 + 3584) * 4 = 16,128 bytes
    t = configuration_terms(tiny, alpha=1.0, resolution=16)
    assert t.footprint[:, 0].tolist() == [16128.0] * 3


def test_every_layer_of_a_network_is_charged_its_networks_factor(tiny):
    plain = Device("p", 1e9, 1e9, costs=(("layer", 1e-6),))
    curved = Device("p", 1e9, 1e9, costs=(("layer", 1e-6),), cache=((8000.0, 1.0), (32000.0, 2.0)))
    factor = 1 + math.log2(16128 / 8000) / 2  # 16,128 bytes between the knots, in log2
    a, b = roofline(tiny, device=plain).columns, roofline(tiny, device=curved).columns
    for key in ("compute_s", "memory_s", "other_s", "time_s"):
        assert b[key] == pytest.approx(a[key] * factor, rel=1e-12)


def test_a_network_beyond_the_curve_says_so(tiny):
    everything = tuple((k, 0.0, 1e12) for k in ("conv", "dw", "pw", "relu", "conv_in", "conv_out", "dw_in", "dw_out",
                                                "pw_in", "pw_out", "unaligned16_dw"))
    d = Device("c", 1e9, 1e9, coverage=everything, cache=((1 * MB, 1.0), (512 * MB, 1.3)))
    assert set(roofline(tiny, device=d).columns["confidence"]) == {"beyond: network bytes"}  # 16 kB < 1 MB
    d = Device("c", 1e9, 1e9, coverage=d.coverage, cache=((8000.0, 1.0), (1e9, 1.3)))
    assert set(roofline(tiny, device=d).columns["confidence"]) == {"covered"}


def _suite(curve: dict, probes=("bneck2.1.expand", "bneck4.1.dw", "conv2")):
    """V2's layers at 0.5/128 timed after 8 MB (made-up times), and ``probes`` again at each size of ``curve``
    (their time there: the 8 MB time times the factor given)."""
    from mnetcost.engine import cost_layers

    _, layers, _ = cost_layers("v2", alpha=0.5, resolution=128, convention="paper")
    base = {l.name: 1e-5 * (1 + i % 7) for i, l in enumerate(layers)}
    obs = [Observation("hand", "v2", 0.5, 128, "paper", t, layer=n, null_s=5e-6, evict_bytes=8 * MB)
           for n, t in base.items()]
    return obs + [Observation("hand", "v2", 0.5, 128, "paper", base[n] * factor, layer=n, null_s=5e-6, evict_bytes=size)
                  for size, factor in curve.items() for n in probes]


def test_calibrate_fits_the_curve_and_keeps_it_out_of_the_layers_fit():
    curve = {2 * MB: 0.98, 64 * MB: 1.2, 256 * MB: 1.5}
    with_curve = calibrate(_suite(curve), name="c", holdout="row").device
    assert [b for b, _ in with_curve.cache] == [2 * MB, 8 * MB, 64 * MB, 256 * MB]
    assert [f for _, f in with_curve.cache] == pytest.approx([0.98, 1.0, 1.2, 1.5])
    alone = calibrate(_suite({}), name="c", holdout="row").device
    assert (with_curve.peak_macs, with_curve.rates, with_curve.bandwidth) == (alone.peak_macs, alone.rates,
                                                                              alone.bandwidth)
    assert with_curve.costs == alone.costs and alone.cache == ()


def test_the_curve_is_each_sizes_median_ratio():
    obs = _suite({64 * MB: 1.2})
    obs[-1].latency_s *= 3  # one probe's outlier: the median of 1.2, 1.2, 3.6
    assert dict(calibrate(obs, name="c", holdout="row").device.cache)[64 * MB] == pytest.approx(1.2)


def test_a_suite_file_without_the_column_was_timed_after_the_suites_own_bytes(tmp_path):
    from mnetcost.suite import EVICT

    path = tmp_path / "s.csv"
    path.write_text("model,alpha,resolution,layer,latency_ms,null_ms\nv2,1,224,conv1,0.1,0.01\nv2,1,224,,5,\n")
    layer, network = read_measurements(path)
    assert (layer.evict_bytes, network.evict_bytes) == (EVICT, 0.0) == (8 * MB, 0.0)


def test_measurements_naming_a_users_table_by_its_absolute_path_read_back_as_that_table(tiny, tmp_path):
    path = tmp_path / "elsewhere" / "m.csv"
    path.parent.mkdir()
    path.write_text(f"model,alpha,resolution,latency_ms\n{tiny},1,16,0.5\n{tiny},0.5,16,0.25\n")
    assert [o.model for o in read_measurements(path)] == [tiny, tiny]


def test_the_curve_is_shown_with_the_profiles_parameters_and_in_its_json():
    from mnetcost.views import device_document

    d = Device("here", 5e10, math.inf, costs=(("layer", 1e-6),), cache=((8 * MB, 1.0), (128 * MB, 1.25)))
    rows = d.parameters.set_index("parameter")
    assert (rows.loc["cache 128 MB", "value"], rows.loc["cache 128 MB", "unit"]) == (1.25, "x")
    assert device_document(d)["cache"] == [[8 * MB, 1.0], [128 * MB, 1.25]]


def test_a_dilated_dense_convolution_has_its_own_rate_or_the_convs():
    """DeepLabV3's ASPP branches (dilation 12, 24, 36 on V3-Large): their own MAC class and sampling stratum,
    priced at the conv rate by a profile without a rate of their own (as before the class existed)."""
    from mnetcost.suite import expanded, stratum

    layers, _, s = expanded("deeplabv3-v3-large", 1.0, 512)
    dilated = [l.name for l in layers if l.op == "conv" and l.dilation > 1]
    assert dilated and all("dilated" in stratum(l, s.rules) for l in layers if l.name in dilated)
    t = configuration_terms("deeplabv3-v3-large", alpha=1.0, resolution=512)
    assert {c for n, c in zip(t.names, t.classes) if n in dilated} == {"dilated"}
    i = t.names.index(dilated[0])
    for device, rate in ((Device("old", 1e11, math.inf, rates=(("conv", 1e10),)), 1e10),
                         (Device("new", 1e11, math.inf, rates=(("conv", 1e10), ("dilated", 4e10))), 4e10)):
        assert roofline("deeplabv3-v3-large", alpha=1.0, resolution=512, device=device).columns["compute_s"][i] == \
            pytest.approx(t.macs[i, 0] / rate)


def test_layers_timed_only_at_other_sizes_make_no_curve():
    """Rows at another size whose layers were never timed at the suite's own give no ratio: no curve (not
    a curve of one point that would mark every network beyond it)."""
    obs = _suite({64 * MB: 1.2})
    obs = [o for o in obs if o.evict_bytes == 8 * MB and o.layer != "conv2"] + \
        [o for o in obs if o.evict_bytes == 64 * MB and o.layer == "conv2"]
    assert calibrate(obs, name="c", holdout="row").device.cache == ()


def test_devices_as_csv_reads_back_a_suite_profile_with_its_coverage_and_curve(tmp_path, capsys):
    from mnetcost.cli import main

    d = Device("here", 5e10, math.inf, costs=(("layer", 1e-6),), coverage=(("pw", 1e5, 3e8),),
               cache=((8 * MB, 1.0), (128 * MB, 1.25)))
    write_device(d, tmp_path / "here.csv")
    assert main(["devices", "--device-file", str(tmp_path / "here.csv"), "-f", "csv"]) == 0
    (tmp_path / "again.csv").write_text(capsys.readouterr().out, encoding="utf-8")
    assert read_devices(tmp_path / "again.csv") == {"here": d}
