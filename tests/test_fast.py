"""Vectorised evaluation: sweeps, per-stage widths and the budget solver, identical to costing each
configuration one by one. (How fast they are is measured in benchmarks/, not here.)"""

import zlib

import numpy as np
import pytest

import mnetcost
from mnetcost.conventions import convention_names, get_convention
from mnetcost.engine import grid
from mnetcost.explore import fit, stage_sweep, sweep
from mnetcost.scaling import make_divisible
from mnetcost.tables import load_table, model_names
from mnetcost.traffic import memory, peak_grid

PAIRS = [(m, c) for m in model_names() for c in convention_names()
         if load_table(m).family in get_convention(c).rules_by_family]


@pytest.mark.parametrize("model, convention", PAIRS, ids=[f"{m}-{c}" for m, c in PAIRS])
def test_sweep_equals_cost_on_a_random_sample(model, convention):
    rng = np.random.default_rng(zlib.crc32(f"{model}/{convention}".encode()))  # the same draw in every process
    alphas = np.round(rng.uniform(0.2, 1.6, 12), 3)
    resolutions = rng.integers(32, 400, 9)
    frame = sweep(model, alphas, resolutions, convention=convention)
    assert list(frame.columns) == ["alpha", "resolution", "macs", "params"] and len(frame) == 108
    for i in rng.choice(len(frame), 15, replace=False):
        row = frame.iloc[i]
        r = mnetcost.cost(model, alpha=row["alpha"], resolution=int(row["resolution"]), convention=convention)
        assert (row["macs"], row["params"]) == (r.macs, r.params), (row["alpha"], row["resolution"])


def test_continuous_sweep_and_heads_and_classes():
    frame = sweep("v1", [0.5, 1.0], [100, 224], spatial="continuous", classes=10)
    for _, row in frame.iterrows():
        r = mnetcost.cost("v1", alpha=row["alpha"], resolution=int(row["resolution"]), spatial="continuous", classes=10)
        assert row["macs"] == pytest.approx(r.macs, rel=1e-12) and row["params"] == r.params
    m, p = grid("v1", [1.0], [224], convention="keras", head=(320, 320), classes=2)
    assert p[0] == 3_660_226


@pytest.mark.parametrize("model, convention", [("v2", "torchvision"), ("v3-large", "keras"), ("v3-small", "ptflops"),
                                               ("v1", "tf-slim"), ("efficientnet-b0", "torchvision"), ("mnasnet-b1", "paper"),
                                               ("v4-hybrid-medium", "timm"), ("v4-conv-small", "paper")])
def test_stage_sweep_equals_cost_per_configuration(model, convention):
    rows = len(load_table(model).rows)
    rng = np.random.default_rng(7)
    stages = rng.uniform(0.25, 1.5, (2000, rows))
    frame = stage_sweep(model, stages, 160, convention=convention)
    for i in rng.choice(len(stages), 25, replace=False):
        r = mnetcost.cost(model, stage_alpha=stages[i], resolution=160, convention=convention)
        assert (frame["macs"][i], frame["params"][i]) == (r.macs, r.params)


def test_uniform_stage_multipliers_are_the_width_multiplier():
    rows = len(load_table("v3-large").rows)
    for a in (0.35, 0.75, 1.3):
        assert mnetcost.cost("v3-large", stage_alpha=[a] * rows, convention="torchvision").macs == \
            mnetcost.cost("v3-large", alpha=a, convention="torchvision").macs


def test_a_per_stage_configuration_is_a_table_with_those_widths(tmp_path):
    """Build one per-stage configuration of MobileNetV2 as a table of its own (widths rounded by
    torchvision's rule, written out by hand here) and cost it at alpha 1."""
    table = load_table("v2")
    stages = [0.5, 1.0, 0.75, 1.25, 0.6, 1.0, 0.9, 1.1, 1.3, 1.0, 1.0]
    lines = ["# family: v2", "stage,op,kernel,t,out,n,stride,bn,width"]
    for row, a in zip(table.rows, stages):
        out = "k" if row.width == "classes" else ("" if row.out is None else
                                                   (row.out if row.width == "last" and a <= 1 else make_divisible(row.out * a, 8)))
        lines.append(f"{row.stage},{row.op},{row.kernel if row.op != 'pool' else ''},{row.t or ''},{out},{row.n},"
                     f"{row.stride},{int(row.bn)},{'' if row.width == 'last' else row.width if row.width != 'block' else ''}")
    path = tmp_path / "config.csv"
    path.write_text("\n".join(lines) + "\n")
    built = mnetcost.cost(str(path), convention="torchvision")
    swept = stage_sweep("v2", np.array([stages]), 224, convention="torchvision")
    assert (swept["macs"][0], swept["params"][0]) == (built.macs, built.params)


def test_stage_sweep_bad_input():
    with pytest.raises(mnetcost.UsageError, match="shape"):
        stage_sweep("v2", np.ones(11))
    with pytest.raises(mnetcost.UsageError, match="finite number > 0"):
        stage_sweep("v2", np.array([[1.0] * 10 + [np.nan]]))


def test_peak_grid_equals_memory():
    alphas, res = [0.35, 1.0, 1.3], [96, 97, 224]
    for schedule in ("materialized", "layerwise"):
        g = peak_grid("v3-large", alphas, res, dtype="float16", schedule=schedule)
        for i, a in enumerate(alphas):
            for j, r in enumerate(res):
                assert g[i, j] == memory("v3-large", alpha=a, resolution=r, dtype="float16", schedule=schedule).peak_bytes


def test_fit_respects_the_budget_and_marks_the_pareto_front():
    alphas, res = np.round(np.arange(0.25, 1.41, 0.05), 2), list(range(96, 321, 16))
    frame = fit("v2", alphas, res, max_macs=150e6, max_params=3e6, max_peak_bytes=512_000, dtype="int8")
    assert len(frame) and (frame["macs"] <= 150e6).all() and (frame["params"] <= 3e6).all()
    assert (frame["peak_bytes"] <= 512_000).all()
    everything = sweep("v2", alphas, res)
    inside = everything[(everything["macs"] <= 150e6) & (everything["params"] <= 3e6)]
    assert len(inside) == len(frame)  # the memory budget does not bind here (int8, materialized)
    a, r = frame["alpha"].to_numpy(), frame["resolution"].to_numpy()
    for i in range(len(frame)):
        dominated = ((a >= a[i]) & (r >= r[i]) & ((a > a[i]) | (r > r[i]))).any()
        assert frame["pareto"][i] == (not dominated)


def test_fit_on_a_hybrid_equals_cost_and_memory():
    """fit on MobileNetV4-Hybrid-M, whose attention grows with the area squared: every reported
    configuration's MACs, params and peak memory are those of cost and memory at that point."""
    frame = fit("v4-hybrid-medium", [0.5, 0.75, 1.0], [128, 160, 192, 224, 256], max_macs=600e6,
                convention="timm", dtype="int8")
    assert len(frame)
    for _, row in frame.iterrows():
        r = mnetcost.cost("v4-hybrid-medium", alpha=row["alpha"], resolution=int(row["resolution"]), convention="timm")
        peak = mnetcost.memory("v4-hybrid-medium", alpha=row["alpha"], resolution=int(row["resolution"]),
                               convention="timm", dtype="int8").peak_bytes
        assert (row["macs"], row["params"], row["peak_bytes"]) == (r.macs, r.params, peak) and r.macs <= 600e6


def test_fit_command(capsys):
    import json

    from mnetcost.cli import main

    assert main(["fit", "v2", "--max-macs", "150M", "--max-params", "3M", "--max-peak-memory", "512K", "-f", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows and all(r["pareto"] and r["macs"] <= 150e6 for r in rows)
    assert main(["fit", "v2"]) == 2
    assert "give a budget" in capsys.readouterr().err
    assert main(["fit", "v2", "--max-macs", "-5M"]) == 2
    assert main(["fit", "v2", "--max-params", "lots"]) == 2
    assert "--max-params must be a positive number" in capsys.readouterr().err
