"""The interactive report (``mnetcost report``, ``mnetcost.report``): its numbers (pure data, no bokeh needed) equal
``mnetcost.cost``, ``memory`` and ``roofline`` at the grid's points; the grid is bounded before any work; bad
input is one error; text from a user's table is escaped in the page; the CLI writes one file. The page in a real
browser: tests/test_report_browser.py."""

import json
import re

import numpy as np
import pytest

import mnetcost
from mnetcost import interactive
from mnetcost.cli import main
from mnetcost.errors import EnvironmentProblem, UsageError
from mnetcost.tables import model_names

HOSTILE = "</script><script>alert(1)</script><!--"
SMALL = {"alphas": (0.5, 1.0, 0.25)}  # three alpha positions: quick, yet a grid


def _point(p, alpha, resolution):
    return p["alphas"].index(alpha), p["resolutions"].index(resolution)


def _check_point(p, model, convention, alpha, resolution, **options):
    """Every number the page shows at one slider position equals the library's one-configuration results."""
    ai, ri = _point(p, alpha, resolution)
    d = p["data"][convention]
    r = mnetcost.cost(model, alpha=alpha, resolution=resolution, convention=convention, **options)
    t = d["totals"]
    assert (t["macs"][ai][ri], t["params"][ai], t["trainable"][ai], t["activations"][ai][ri]) == (
        r.macs, r.params, r.trainable, r.activations)
    assert t["peak_bytes"][ai][ri] == mnetcost.memory(r, schedule=p["schedule"], dtype=p["dtype"]).peak_bytes
    names = d["layers"]["name"]
    shown = [i for i, on in enumerate(d["present"][ai]) if on]
    assert [names[i] for i in shown] == list(r.columns["name"])
    for key, values in (("macs", d["macs"][ai][ri]), ("params", d["params"][ai]),
                        ("activations", d["activations"][ai][ri])):
        assert [values[i] for i in shown] == [int(v) for v in r.columns[key]], key
    for key in ("h_in", "w_in", "h_out", "w_out"):
        assert [d[key][ri][i] for i in shown] == [int(v) for v in r.columns[key]], key
    assert [d["c_out"][ai][i] for i in shown] == [int(v) for v in r.columns["c_out"]]
    by_op = {k: int(v) for k, v in r.by_op()["macs"].items()}
    assert dict(zip(d["by_op"]["names"], d["by_op"]["macs"][ai][ri])) == by_op
    by_block = {k: int(v) for k, v in r.by_block()["params"].items()}
    assert {k: v for k, v in zip(d["by_block"]["names"], d["by_block"]["params"][ai]) if k in by_block} == by_block
    return r


@pytest.fixture(scope="module")
def v2():
    return interactive.payload("v2")


@pytest.mark.parametrize("convention", ["paper", "torchvision", "keras", "tf-slim", "timm"])
@pytest.mark.parametrize("alpha,resolution", [(1.0, 224), (0.75, 160), (0.35, 96), (1.4, 336), (0.5, 128)])
def test_v2_payload_equals_the_library_at_sampled_points(v2, convention, alpha, resolution):
    _check_point(v2, "v2", convention, alpha, resolution)


def test_v2_payload_matches_torchvision_itself():
    """Anchored in the framework too: torchvision's own mobilenet_v2 counts (tests/data/torchvision_totals.csv)."""
    import csv

    p = interactive.payload("v2", convention="torchvision", conventions=["torchvision"])
    rows = [r for r in csv.DictReader(open("tests/data/torchvision_totals.csv")) if r["model"] == "mobilenet_v2"
            and r["num_classes"] == "1000" and float(r["width_mult"]) in p["alphas"]
            and int(r["resolution"]) in p["resolutions"]]
    assert len(rows) >= 10
    for r in rows:
        ai, ri = _point(p, float(r["width_mult"]), int(r["resolution"]))
        t = p["data"]["torchvision"]["totals"]
        assert (t["macs"][ai][ri], t["params"][ai]) == (int(r["macs"]), int(r["params"]))


def test_payload_is_plain_json_data(v2):
    text = json.dumps(v2)
    assert json.loads(text) == v2
    assert v2["conventions"][0] == "paper" and v2["alphas"][v2["alpha0"]] == 1.0
    assert v2["resolutions"][v2["res0"]] == 224 and v2["resolutions"] == list(range(96, 337, 16))
    assert v2["alphas"] == [round(0.25 + 0.05 * i, 6) for i in range(26)]
    assert any(f["verdict"] == "match" for f in v2["figures"])


def test_the_law_is_alpha_squared_rho_squared_from_alpha_1_at_the_tables_resolution(v2):
    d = v2["data"]["paper"]
    ai, ri = _point(v2, 0.5, 112)
    at = d["law"]["at"]
    assert at == {"alpha": 1.0, "resolution": 224, "macs": mnetcost.cost("v2").macs,
                  "params": mnetcost.cost("v2").params}
    assert d["law"]["macs"][ai][ri] == round(at["macs"] * 0.25 * 0.25)
    assert d["law"]["params"][ai] == round(at["params"] * 0.25)


@pytest.mark.parametrize("model", model_names())
def test_every_shipped_table_builds_and_equals_cost(model):
    """Every shipped table: the default grid is within the bound (checked without counting), and a payload over a
    smaller grid equals ``cost`` at alpha 1 and the table's own resolution where that is a slider position."""
    plan = interactive._plan(model, None, None, None, None, None, None, None, "materialized", {})
    assert plan.cells <= interactive.MAX_CELLS and plan.setups
    p = interactive.payload(model, **SMALL)
    base = mnetcost.load_table(model).resolution
    res = base if base in p["resolutions"] else p["resolutions"][p["res0"]]
    _check_point(p, model, p["conventions"][0], 1.0, res)


@pytest.mark.parametrize("model,options", [("lraspp-v3-large", {}), ("ssdlite-v3-large", {"reduced_tail": True}),
                                           ("deeplabv3-v3-large", {"aux": True}), ("v4-hybrid-medium", {}),
                                           ("v5-base", {})])
def test_heads_and_hybrids_layer_by_layer(model, options):
    conv = "torchvision" if model.startswith(("lraspp", "ssdlite", "deeplab")) else "timm"
    p = interactive.payload(model, convention=conv, conventions=[conv], **SMALL, **options)
    for alpha in (0.5, 1.0):
        for res in (p["resolutions"][0], p["resolutions"][-1]):
            _check_point(p, model, conv, alpha, res, **options)


def test_a_users_csv_and_its_names(tmp_path):
    path = tmp_path / "evil.csv"
    path.write_text(_hostile_csv())
    p = interactive.payload(str(path), **SMALL)
    assert p["model"] == HOSTILE and HOSTILE in p["title"]
    r = _check_point(p, str(path), "paper", 1.0, 32)
    assert r.columns["name"][0].startswith("st</script>")


def _hostile_csv() -> str:
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "example.csv").read_text()
    text = text.replace("# name: tiny", f"# name: {HOSTILE}").replace("# title: ", f"# title: {HOSTILE} ")
    return text.replace("\nstem,", '\n"st</script><script>alert(2)</script>",')


def test_device_adds_the_roofline_per_layer():
    p = interactive.payload("v2", device="pixel6-cpu-int8", conventions=["paper"], **SMALL)
    assert p["dtype"] == "int8" and p["device"]["name"] == "pixel6-cpu-int8"
    ai, ri = _point(p, 0.75, 160)
    roof = mnetcost.roofline("v2", alpha=0.75, resolution=160, device="pixel6-cpu-int8")
    d = p["data"]["paper"]
    assert d["totals"]["latency_us"][ai][ri] == pytest.approx(roof.latency_s * 1e6, abs=1e-3)
    shown = [i for i, on in enumerate(d["present"][ai]) if on]
    bound = [d["memory_bound"][ai][ri][i] for i in shown]
    assert bound == [int(b == "memory") for b in roof.columns["bound"]]
    assert d["totals"]["memory_bound_layers"][ai][ri] == sum(bound) > 0
    grid = mnetcost.latency_grid("v2", p["alphas"], p["resolutions"], "pixel6-cpu-int8")
    assert np.allclose(np.array(d["totals"]["latency_us"]), grid * 1e6, atol=1e-3)


def test_peak_memory_equals_peak_grid_over_the_whole_grid():
    p = interactive.payload("v3-small", schedule="layerwise", dtype="float16", conventions=["paper"])
    grid = mnetcost.peak_grid("v3-small", p["alphas"], p["resolutions"], schedule="layerwise", dtype="float16")
    assert p["data"]["paper"]["totals"]["peak_bytes"] == grid.tolist()
    macs, params = mnetcost.grid("v3-small", p["alphas"], p["resolutions"])
    assert p["data"]["paper"]["totals"]["macs"] == macs.tolist()


def test_the_grid_is_bounded_before_any_work(monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("counted before the bound was checked")

    monkeypatch.setattr(interactive, "_convention_data", no_work)
    with pytest.raises(UsageError, match=r"would embed .* more than 250,000"):
        interactive.payload("v5-300m", conventions=["paper", "timm"])
    with pytest.raises(UsageError, match="has 10,000 values; at most 2,000"):
        interactive.payload("v2", alphas="0.01:100:0.01")
    # 64 layers (v2's first block has no expansion and 7 blocks no residual) x 391 alphas
    with pytest.raises(UsageError, match=r"would walk 25,024 layers .* more than 25,000"):
        interactive.payload("v2", alphas="0.1:4.0:0.01", resolutions="96:224:128", conventions=["paper"])


def test_a_default_grid_keeps_the_chosen_convention_first_and_drops_others_to_fit():
    plan = interactive._plan("v5-300m", None, None, None, None, None, None, None, "materialized",
                             {"convention": "timm"})
    assert [s.rules.convention for s in plan.setups] == ["timm"] and plan.cells <= interactive.MAX_CELLS


@pytest.mark.parametrize("options,message", [
    ({"alpha": 0.33}, "alpha 0.33 is not a position of the report's slider"),
    ({"resolution": 100}, "resolution 100 is not a position"),
    ({"resolution": "224x160"}, "slider is square"),
    ({"alphas": "1:0.5:0.1"}, "STOP 0.5 is less than START 1"),
    ({"alphas": "0:0.5:0.1"}, "START must be > 0"),
    ({"alphas": "a:b:c"}, "'a' is not a number"),
    ({"alphas": "0.5,1.0"}, "START:STOP:STEP"),
    ({"alphas": (0.5, 1.0)}, "(start, stop, step)"),
    ({"resolutions": (8, 64, 8)}, "too small for v2"),
    ({"conventions": "paper,bogus"}, "unknown convention 'bogus'"),
    ({"conventions": []}, "a list of convention names"),
    ({"conventions": ["torchvision"], "resolutions": (96, 224, 0)}, "STEP must be > 0"),
    ({"schedule": "bogus"}, "unknown schedule"),
    ({"stage_alpha": [1.0] * 19}, "one alpha per configuration"),
    ({"spatial": "continuous"}, "exact spatial sizes"),
    ({"device": "bogus"}, "unknown device"),
])
def test_bad_input_is_one_usage_error(options, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        interactive.payload("v2", **options)


def test_without_bokeh_the_report_names_the_extra(monkeypatch, capsys):
    import builtins

    real = builtins.__import__

    def no_bokeh(name, *args, **kwargs):
        if name == "bokeh" or name.startswith("bokeh."):
            raise ImportError("No module named 'bokeh'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_bokeh)
    with pytest.raises(EnvironmentProblem, match=re.escape("pip install 'mnetcost[report]'")):
        mnetcost.report("v2")
    assert main(["report", "v2", "-o", "never.html"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'mnetcost[report]'" in err


# ---- the page (needs bokeh) -------------------------------------------------------------------------------------

def test_script_json_cannot_end_a_script():
    from mnetcost.report_html import script_json

    text = script_json({"name": HOSTILE, "x": "a & b \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"name": HOSTILE, "x": "a & b \u2028"}


def test_the_page_escapes_a_users_names(tmp_path):
    pytest.importorskip("bokeh")
    path = tmp_path / "evil.csv"
    path.write_text(_hostile_csv())
    html = mnetcost.report(str(path), **SMALL).html
    found = [html[max(0, m.start() - 18):m.start()] for m in re.finditer(r"alert\(", html)]
    assert found and all(f.endswith(("&lt;script&gt;", "\\u003cscript\\u003e")) for f in found), found
    assert html.count("<script") == html.count("</script>") == 6  # bokeh, its document (2), meta, numbers, glue
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;!--" in html  # shown as text


def test_the_page_is_self_contained(tmp_path):
    pytest.importorskip("bokeh")
    page = mnetcost.report("v2", device="pixel6-cpu-int8")
    size = page.save(tmp_path / "v2.html")
    html = (tmp_path / "v2.html").read_text(encoding="utf-8")
    assert size == len(html.encode("utf-8")) and 1_500_000 < size < 3_000_000  # docs/report.md states 2.2 MB
    assert not re.search(r"""<(script|link|img|iframe)[^>]+(src|href)=""", html)  # nothing fetched
    for control in ('<input type="range" id="alpha"', '<input type="range" id="resolution"', '<select id="convention"'):
        assert control in html
    assert '<label for="alpha">' in html and '<label for="resolution">resolution (pixels)' in html
    assert 'min="0.25" max="1.5" step="0.05" value="1"' in html and 'min="96" max="336" step="16" value="224"' in html
    assert "roofline latency on pixel6-cpu-int8" in html
    from mnetcost.report_html import numbers

    assert numbers(page.payload) in html


def test_jupyter_shows_the_page_in_an_iframe():
    pytest.importorskip("bokeh")
    page = mnetcost.report("v1-conv", conventions=["paper"], **SMALL)
    shown = page._repr_html_()
    assert shown.startswith("<iframe srcdoc=\"") and "&lt;!DOCTYPE html&gt;" in shown and "<script" not in shown
    assert repr(page) == "Report('v1-conv': 3 alphas x 16 resolutions, conventions paper)"


def test_cli_writes_one_page(tmp_path, capsys, monkeypatch):
    pytest.importorskip("bokeh")
    monkeypatch.chdir(tmp_path)
    assert main(["report", "v3-small", "--alpha", "0.75", "-r", "160", "--conventions", "paper,torchvision"]) == 0
    out, err = capsys.readouterr()
    assert not err and out.startswith("wrote v3-small.html: ") and "MB" in out
    html = (tmp_path / "v3-small.html").read_text(encoding="utf-8")
    assert 'value="0.75"' in html and 'value="160"' in html
    assert main(["report", "v1", "-o", "-", "--alpha-range", "0.5:1:0.5", "-c", "keras", "--conventions", "keras"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("<!DOCTYPE html>") and out.rstrip().endswith("</html>")


@pytest.mark.parametrize("args,message", [
    (["report", "v2", "--alpha", "0.33"], "not a position of the report's slider"),
    (["report", "nosuch"], "unknown model 'nosuch'"),
    (["report", "v2", "--alpha-range", "0.1:3:0.001"], "has 2,901 values; at most 2,000"),
    (["report", "v5-300m", "--conventions", "paper,timm"], "would embed"),
])
def test_cli_bad_input_is_one_line(capsys, args, message):
    pytest.importorskip("bokeh")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_cli_unwritable_output_is_exit_3(tmp_path, capsys):
    pytest.importorskip("bokeh")
    assert main(["report", "v1-conv", "--conventions", "paper", "-o", str(tmp_path / "no" / "such" / "dir.html")]) == 3
    assert "cannot write" in capsys.readouterr().err
