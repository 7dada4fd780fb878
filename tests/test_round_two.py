"""Issue 20, round two: one test per class of defect, each failing on the code before its fix.

Classes: (1) verify and measure bounded by the bytes a forward pass needs; (2) measurements that name a
user's table; (3) everything mnetcost writes reads back; (4) work bounded in time; (5) the library raises
only its own errors, in words a user can act on; (6) non-square sizes in ``Memory.by_resolution``."""

import pytest

import mnetcost
from mnetcost.errors import MnetcostError, UsageError


# ---- (6) non-square inputs keep their width in the widest-tensor rows

def test_by_resolution_keys_non_square_sizes_by_height_and_width():
    rows = mnetcost.memory("v2", resolution=(224, 160), dtype="float16").by_resolution()
    assert list(rows["resolution"][:3]) == ["224x160", "112x80", "56x40"]
    assert rows.loc[rows["resolution"] == "112x80", "bytes"].item() == 112 * 80 * 16 * 2
    square = mnetcost.memory("v2").by_resolution()  # a square input keeps its integer sides
    assert list(square["resolution"][:2]) == [224, 112]


# ---- (5) the library raises only its own errors (or Python's own TypeError when the call cannot bind)

import inspect  # noqa: E402
import math  # noqa: E402

from mnetcost import explore, latency, ratios, train, traffic  # noqa: E402

JUNK = ["abc", "", 5, 0, -1, None, math.nan, math.inf, 1e300, True, [], {}, (1, 2), object(), b"v2",
        [{"model": "v2"}], "v2"]


def public_functions():
    found = {f"mnetcost.{n}": getattr(mnetcost, n) for n in mnetcost.__all__}
    for module in (explore, latency, ratios, train, traffic):
        found.update({f"{module.__name__}.{n}": getattr(module, n) for n in module.__all__})
    return {k: f for k, f in sorted(found.items()) if inspect.isfunction(f)}


def junk_calls(f):
    """Each required argument in turn replaced by each junk value (the others "v2"); with none required, each
    keyword-only parameter in turn set to each junk value."""
    sig = inspect.signature(f)
    params = list(sig.parameters.values())
    required = [p for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keywords = [p.name for p in params if p.kind == p.KEYWORD_ONLY]
    for junk in JUNK:
        for k in range(len(required)):
            yield [junk if i == k else "v2" for i in range(len(required))], {}
        if not required:
            for name in keywords:
                yield [], {name: junk}


@pytest.mark.parametrize("name", sorted(public_functions()))
def test_public_functions_raise_only_mnetcost_errors_for_junk(name):
    f = public_functions()[name]
    sig = inspect.signature(f)
    for args, kwargs in junk_calls(f):
        try:
            sig.bind(*args, **kwargs)
        except TypeError:
            continue  # Python's own TypeError: the call cannot bind (documented)
        try:
            f(*args, **kwargs)
        except MnetcostError:
            pass
        except Exception as e:  # noqa: BLE001
            pytest.fail(f"{name}(*{args!r:.80}, **{kwargs!r:.80}) raised {type(e).__name__}: {e}")


@pytest.mark.parametrize("call, words", [
    (lambda: mnetcost.calibrate("abc"), "observations"),
    (lambda: mnetcost.choose(sources=5), "sources"),
    (lambda: mnetcost.choose(sources=("tf_slim", "")), "an empty accuracy source"),
    (lambda: mnetcost.measure([{"model": "v2"}]), "a configuration to measure"),
    (lambda: mnetcost.choose(max_latency=-1.0), "the latency budget"),
])
def test_named_bad_arguments_are_usage_errors_in_words(call, words):
    with pytest.raises(UsageError, match=words):
        call()


def test_a_huge_budget_is_fine():
    """1e300 s is positive: everything fits it (it was refused as "max_latency must be a positive number")."""
    assert len(mnetcost.choose(max_latency=1e300, device="pixel1-big-core")) == len(mnetcost.choose())
    assert len(mnetcost.fit("v2", [1.0], [224], max_macs=1e300)) == 1


# ---- (1) one bound on the bytes of a forward pass, before anything is built

def test_a_forward_pass_beyond_the_limit_is_refused_with_its_size():
    from mnetcost.engine import cost_layers
    from mnetcost.timing import check_config

    r, layers, _ = cost_layers("v4-hybrid-medium", convention="timm", resolution=4096)
    f = traffic.forward_bytes(r, layers)
    assert f.score_bytes > 16e9  # the attention matrices: heads x N_q x N_kv, float32 (16x those at 2048 px)
    with pytest.raises(UsageError, match=r"needs about [\d,]+ MB .*attention scores 17,180 MB.*limit of 4,295 MB"):
        traffic.check_forward(r, layers, "verify")
    with pytest.raises(UsageError, match=r"measure builds and runs the network: v2 .* MB.*limit of 1,074 MB"):
        check_config({"model": "v2", "alpha": 1.0, "resolution": 4096, "convention": "paper"})
    with pytest.raises(UsageError, match=r"8,067 MB"):  # the library's own measure: refused before any import
        mnetcost.measure([{"model": "v2", "alpha": 1.0, "resolution": 8192, "convention": "paper"}])
    r, layers, _ = cost_layers("v2", resolution=1024)
    assert traffic.check_forward(r, layers, "verify").total < traffic.FORWARD_LIMIT["verify"]


# ---- (2) a measurements file names the user's own table by its path, never by the table's own name

def _measurement(model, alpha, resolution, latency_ms):
    from mnetcost.timing import Measurement

    return Measurement(model, alpha, resolution, "paper", latency_ms, latency_ms, 1.0, 0.5, 3, 5, 1,
                       "onnxruntime 1", "host", "2026-01-01T00:00:00Z")


def test_measurements_of_a_users_table_named_v2_calibrate_on_that_table(tmp_path, monkeypatch):
    from pathlib import Path

    from mnetcost.calibration import read_measurements
    from mnetcost.latency import Device, roofline
    from mnetcost.timing import append

    example = (Path(__file__).parent.parent / "docs" / "example.csv").read_text()
    (tmp_path / "mynet.csv").write_text(example.replace("# name: tiny", "# name: v2"))
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    truth = Device("truth", 2e9, 1e9, costs=(("layer", 1e-6),))
    configs = [(a, r) for a in (0.5, 0.75, 1.0, 1.4) for r in (32, 64, 96)]
    append([_measurement("mynet.csv", a, r, 1e3 * roofline("mynet.csv", alpha=a, resolution=r, device=truth).latency_s)
            for a, r in configs] + [_measurement("v2", 1.0, 96, 5.0)], tmp_path / "sub" / "m.csv")
    monkeypatch.chdir(tmp_path / "sub")  # read from elsewhere: the path is relative to the measurements file
    found = read_measurements("m.csv")
    assert {o.model for o in found} == {str(tmp_path / "mynet.csv"), "v2"}
    mine = [o for o in found if o.model != "v2"]
    assert mnetcost.cost(mine[0].model).macs == mnetcost.cost(str(tmp_path / "mynet.csv")).macs != mnetcost.cost("v2").macs
    c = mnetcost.calibrate(mine, form="overhead", holdout="row")
    assert c.train_error < 1e-6  # fitted on the user's table: its own roofline is recovered


# ---- (3) whatever mnetcost writes, mnetcost reads back equal

BAD_NAMES = ["", " ", "\t", "a" * 81, "a\x1bb", " lead", "trail ", "line\nbreak", "x\u2028y"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_device_name_the_reader_refuses_is_refused_by_the_writer(name, tmp_path):
    from mnetcost.errors import TableError
    from mnetcost.latency import Device, read_devices

    with pytest.raises(UsageError, match="name"):
        Device(name, 1e9, 1e9)
    with pytest.raises(UsageError, match="name"):
        mnetcost.calibrate(mnetcost.published_latencies("tf-slim"), name=name)
    path = tmp_path / "d.csv"
    path.write_text(f'name,peak_macs,bandwidth\n"{name}",1e9,1e9\n', encoding="utf-8")
    try:
        found = read_devices(path)
    except (TableError, UsageError):
        return
    assert name not in found  # read, it is another name (the reader strips blanks): never written


@pytest.mark.parametrize("name", ["a", "a" * 80, "my laptop, 2 cores", 'say "hi"', "écran", "=1+1", "#1"])
def test_device_profiles_read_back_equal(name, tmp_path):
    from mnetcost.latency import Device, read_devices, write_device

    path = tmp_path / "d.csv"
    c = mnetcost.calibration.calibrate_published("tf-slim", name=name)
    plain = Device("plain", 1e9, float("inf"), "int8", source="by hand", costs=(("layer", 1e-6),))
    write_device(c.device, path)
    write_device(plain, path)
    assert read_devices(path) == {name: c.device, "plain": plain}


def test_the_devices_csv_of_the_cli_reads_back_as_the_shipped_profiles(tmp_path, capsys):
    from mnetcost.cli import main
    from mnetcost.latency import devices, read_devices

    assert main(["devices", "-f", "csv"]) == 0
    path = tmp_path / "d.csv"
    path.write_text(capsys.readouterr().out, encoding="utf-8")
    assert read_devices(path) == devices()


def test_measurements_read_back_equal(tmp_path):
    from mnetcost.calibration import read_measurements
    from mnetcost.timing import append

    rows = [_measurement("v2", 0.5, 96, 1 / 3), _measurement("v3-small", 1.0, 224, 12.345678901234),
            _measurement("mobilenet_v2", 0.75, 160, 1e-3 / 7)]
    path = tmp_path / "m.csv"
    append(rows[:1], path)
    append(rows[1:], path)
    found = read_measurements(path)
    assert [(o.model, o.alpha, o.resolution, o.convention, o.latency_s) for o in found] == \
        [("v2", 0.5, 96, "paper", rows[0].latency_ms / 1e3), ("v3-small", 1.0, 224, "paper", rows[1].latency_ms / 1e3),
         ("v2", 0.75, 160, "paper", rows[2].latency_ms / 1e3)]


# ---- (4) work bounded in time: a table's layers counted from its rows, before anything is expanded

def test_a_table_of_too_many_layers_is_refused_from_its_rows_at_once(tmp_path):
    import time

    from mnetcost.errors import TableError

    rows = ["stem,conv,3,,16,1,2"] + [f"b{i},bneck,3,6,16,1000,1" for i in range(20_000)] + ["pool,pool,,,,1,1"]
    path = tmp_path / "big.csv"
    path.write_text("# family: v2\n# resolution: 224\nstage,op,kernel,t,out,n,stride\n" + "\n".join(rows) + "\n")
    start = time.perf_counter()
    with pytest.raises(TableError, match="line 9: the rows so far expand to more than 10,000 layers"):
        mnetcost.load_table(str(path))
    assert time.perf_counter() - start < 2  # was 13-18 s and 2.2 GB (20,000 rows: a MemoryError)


def test_the_layer_count_from_rows_never_exceeds_the_layers_expanded():
    """Each row type's ``least`` is a true floor: every shipped table's blocks emit at least that many layers."""
    from collections import Counter

    from mnetcost.rows import row_type
    from mnetcost.tables import model_names

    for name in model_names():
        table = mnetcost.load_table(name)
        try:
            layers = mnetcost.cost(table, convention="paper", aux=True).layers  # every switchable row on
        except UsageError:
            layers = mnetcost.cost(table, convention="paper").layers
        per_block = Counter(layers["block"])
        for row in table.rows:
            blocks = [row.stage] if row.n == 1 else [f"{row.stage}.{i + 1}" for i in range(row.n)]
            for block in blocks:
                assert per_block[block] >= row_type(row.op).least, (name, row.stage, block)


def test_fit_work_is_bounded_before_it_starts():
    """fit v2 -a 0.01:1000:0.01 ran for minutes under the grid-size bound; now alphas x layers (and x
    resolutions) is checked first, and a grid at the limit answers within seconds (docs: README, More)."""
    import time

    import numpy as np

    start = time.perf_counter()
    with pytest.raises(UsageError, match="more work than fit does at once"):
        mnetcost.fit("v2", np.arange(0.01, 1000, 0.01), max_macs=3e8)
    with pytest.raises(UsageError, match="more work than fit does at once"):
        mnetcost.fit("v2", np.linspace(0.1, 3, 1000), max_macs=3e8)
    assert time.perf_counter() - start < 2
    start = time.perf_counter()
    assert len(mnetcost.fit("v2", np.linspace(0.1, 3, 690), device="pixel1-big-core", max_latency=1.0)) > 0
    assert time.perf_counter() - start < 10  # about 2.3 s on the 2-core machine the docs were measured on


def test_calibrate_work_is_bounded_before_it_starts():
    """calibrate at its 2,000-measurement limit took half a minute; now the layers x held-out fits are counted
    first (calibration.MAX_LAYER_ROWS, MAX_FIT_WORK)."""
    import time

    from mnetcost.calibration import Observation

    obs = [Observation("x", "v2", a, r, "paper", 0.01 + 1e-5 * r) for a in (0.5, 0.75, 1.0, 1.4)
           for r in range(96, 96 + 500)]
    start = time.perf_counter()
    with pytest.raises(UsageError, match="more than calibrate fits at once"):
        mnetcost.calibrate(obs)
    with pytest.raises(UsageError, match="held out in 100 groups"):
        mnetcost.calibrate(obs[:100], holdout="row")
    assert time.perf_counter() - start < 2
