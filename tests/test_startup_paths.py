"""Start-up (benchmarks/startup.py): each faster path is tested equal to the path it replaced."""

import dataclasses

import numpy as np
import pytest

from mnetcost import engine
from mnetcost.expand import single
from mnetcost.vocab import DEFAULT_DTYPE


def _single_before(layers, index=0):
    """expand.single as it was: dataclasses.replace for every layer."""
    alias, out = {}, []
    for l in layers:
        inputs = tuple(alias.get(t, t) for t in l.inputs)
        l = dataclasses.replace(l, size_of=alias.get(l.size_of, l.size_of))
        if not np.asarray(l.present).ravel()[index if np.size(l.present) > 1 else 0]:
            alias[l.name] = inputs[0]
            continue
        one = {k: int(np.asarray(getattr(l, k)).ravel()[index if np.size(getattr(l, k)) > 1 else 0])
               for k in ("c_in", "c_out", "c_mid", "groups")}
        out.append(dataclasses.replace(l, present=True, inputs=inputs, **one))
    return out


@pytest.mark.parametrize("model", ["v1", "v2", "v3-large", "v3-small", "v4-hybrid-medium", "deeplabv3-v3-large",
                                   "v5-base"])
def test_single_equals_dataclasses_replace(model):
    s = engine.setup(model, convention="timm" if model[:2] in ("v4", "v5") else "keras")
    alphas = np.array([0.25, 0.35, 0.5, 0.75, 1.0, 1.3])
    layers = s.expand(alphas, np.array([96, 224]))
    for i in range(len(alphas)):
        fast, slow = single(layers, i), _single_before(layers, i)
        assert len(fast) == len(slow)
        for a, b in zip(fast, slow):
            assert a == b and type(a.c_in) is type(b.c_in) is int
            assert {k: type(v) for k, v in vars(a).items()} == {k: type(v) for k, v in vars(b).items()}


def _choose_before(*, device=None, device_file=None, max_latency=None, max_peak_bytes=None, max_params=None,
                   max_macs=None, dtype=None, schedule="materialized", sources=None):
    """explore.choose as it was: on the accuracy DataFrame, grouped by pandas."""
    from mnetcost.engine import setup
    from mnetcost.explore import _budget_device, _within, budget_grid
    from mnetcost.reference import accuracy

    dev = _budget_device(device, device_file, max_latency)
    dtype = dtype or (dev.dtype if dev is not None else DEFAULT_DTYPE)  # the one dtype rule (vocab)
    table = accuracy()
    if sources is not None:
        table = table[table["source"].isin(list(sources))]
    table = table.reset_index(drop=True)
    for column in ("macs", "params", "peak_bytes", "latency_ms"):
        table[column] = np.nan if column == "latency_ms" else 0
    for (model, convention, classes, alpha), rows in table.groupby(["model", "convention", "classes", "alpha"]):
        res = np.array(sorted(set(rows["resolution"])), dtype=np.int64)
        g = budget_grid(setup(model, convention=convention, classes=int(classes)), np.array([alpha]), res,
                        dtype=dtype, schedule=schedule, device=dev)
        cols = np.searchsorted(res, rows["resolution"].to_numpy())
        table.loc[rows.index, "macs"] = g["macs"][0, cols]
        table.loc[rows.index, "params"] = g["params"][0]
        table.loc[rows.index, "peak_bytes"] = g["peak_bytes"][0, cols]
        if dev is not None:
            table.loc[rows.index, "latency_ms"] = 1e3 * g["seconds"][0, cols]
    ok = _within(table, max_macs, max_params, max_peak_bytes, max_latency)
    chosen = table[ok].sort_values(["top1", "macs"], ascending=[False, True], ignore_index=True)
    cost_axis = chosen["latency_ms" if dev is not None else "macs"].to_numpy(dtype=float)
    top1 = chosen["top1"].to_numpy(dtype=float)
    beaten = [np.any((top1 >= a) & (cost_axis <= c) & ((top1 > a) | (cost_axis < c))) for a, c in zip(top1, cost_axis)]
    chosen["pareto"] = ~np.array(beaten, dtype=bool)
    if dev is not None:
        chosen.attrs["device"] = dev
    return chosen


def test_accuracy_records_equal_the_frame():
    from mnetcost.reference import accuracy, accuracy_records

    assert accuracy_records() == accuracy().to_dict("records")


@pytest.mark.parametrize("kw", [{}, {"device": "pixel1-big-core", "max_latency": 0.02},
                                {"max_peak_bytes": 512e3, "dtype": "int8", "max_params": 4e6},
                                {"device": "pixel6-cpu-int8", "sources": ["torchvision", "paper_v4"]},
                                {"max_macs": 1.0}, {"schedule": "layerwise", "max_macs": 3e8}])
def test_choose_records_equal_the_frame_as_it_was(kw):
    import pandas as pd

    from mnetcost.explore import choose, choose_records

    before, frame = _choose_before(**kw), choose(**kw)
    pd.testing.assert_frame_equal(frame, before, check_dtype=True)
    assert frame.attrs.get("device") == before.attrs.get("device")
    records, dev = choose_records(**kw)
    assert dev == before.attrs.get("device")
    old = before.to_dict("records")
    same = [{k: "nan" if isinstance(v, float) and v != v else v for k, v in r.items()} for r in records]
    assert same == [{k: "nan" if isinstance(v, float) and v != v else v for k, v in r.items()} for r in old]
    assert [{k: type(v) for k, v in r.items()} for r in records] == [{k: type(v) for k, v in r.items()} for r in old]


def _fit_before(model, alphas, resolutions, *, max_macs=None, max_params=None, max_peak_bytes=None, max_latency=None,
                device=None, dtype=DEFAULT_DTYPE, schedule="materialized", **options):
    """explore.fit as it was: the Pareto front by pandas' groupby."""
    import pandas as pd

    from mnetcost.engine import check_alphas, check_resolutions, setup
    from mnetcost.explore import _budget_device, _within, budget_grid

    dev = _budget_device(device, None, max_latency)
    s = setup(model, **options)
    alphas, res = check_alphas(alphas), check_resolutions(s, resolutions)
    g = budget_grid(s, alphas, res, dtype=dtype, schedule=schedule, device=dev)
    frame = pd.DataFrame({"alpha": np.repeat(alphas, len(res)), "resolution": np.tile(res, len(alphas)),
                          "macs": g["macs"].ravel(), "params": np.repeat(g["params"], len(res)),
                          "peak_bytes": g["peak_bytes"].ravel()})
    if dev is not None:
        frame["latency_ms"] = 1e3 * g["seconds"].ravel()
    feasible = frame[_within(frame, max_macs, max_params, max_peak_bytes, max_latency)].reset_index(drop=True)
    best_r = feasible.groupby("alpha")["resolution"].transform("max")
    by_alpha = feasible.groupby("alpha")["resolution"].max().sort_index(ascending=False)
    wider_max = by_alpha.cummax().shift(1, fill_value=-1)
    feasible["pareto"] = (feasible["resolution"] == best_r) & (feasible["resolution"] > feasible["alpha"].map(wider_max))
    feasible = feasible.sort_values(["macs", "alpha"], ignore_index=True)
    if dev is not None:
        feasible.attrs["device"] = dev
    return feasible


FITS = [("v2", {"max_macs": 150e6, "max_params": 2e6, "max_peak_bytes": 512e3}),
        ("v3-large", {"max_latency": 0.02, "device": "pixel1-big-core"}),
        ("v1", {"max_macs": 300e6, "convention": "tf-slim", "schedule": "layerwise", "dtype": "float16"}),
        ("v4-hybrid-medium", {"max_macs": 600e6, "convention": "timm"}), ("v2", {"max_macs": 1.0}),
        ("v3-small", {"max_params": 1e9, "spatial": "continuous"})]


@pytest.mark.parametrize("model, kw", FITS)
def test_fit_columns_equal_the_frame_as_it_was(model, kw):
    import pandas as pd

    from mnetcost import reports
    from mnetcost.explore import fit, fit_columns

    alphas = np.round(np.arange(0.25, 1.41, 0.05), 2)
    res = np.arange(96, 321, 16)
    before, frame = _fit_before(model, alphas, res, **kw), fit(model, alphas, res, **kw)
    pd.testing.assert_frame_equal(frame, before, check_dtype=True)
    assert frame.attrs.get("device") == before.attrs.get("device")
    columns, dev = fit_columns(model, alphas, res, **kw)
    assert dev == before.attrs.get("device") and reports.records(columns) == before.to_dict("records")


@pytest.mark.parametrize("model, base, other", [("v2", "paper", "torchvision"), ("v3-large", "torchvision", "keras"),
                                                ("v4-hybrid-medium", "timm", "timm-fused"), ("v1", "paper", "ptflops")])
def test_explain_rows_equal_the_frame(model, base, other):
    from mnetcost.explore import explain, explain_rows

    frame = explain(model, base, other, alpha=0.75)
    rows, attrs = explain_rows(model, base, other, alpha=0.75)
    assert rows == frame.to_dict("records") and attrs == frame.attrs
    assert sum(r["macs"] for r in rows) == attrs["other_macs"] - attrs["base_macs"]


@pytest.mark.parametrize("model, convention", [("v1", "keras"), ("v2", "torchvision"), ("v3-large", "ptflops"),
                                               ("v4-hybrid-medium", "timm"), ("v5-base", "timm")])
def test_count_of_one_configuration_equals_np_where(model, convention):
    """engine.count's one-configuration path (plain ints) gives np.where's trainable count, as a Python int."""
    from mnetcost.engine import count, trains
    from mnetcost.ops import op_cost

    _, layers, s = engine.cost_layers(model, convention=convention, alpha=0.75)
    for l in layers:
        c, got = op_cost(l, s.rules, s.ops), count(l, s)
        bn_trainable = s.rules.bn_trainable * l.c_out if l.bn else 0
        before = np.where(trains(l, s, c.weights), c.weights + c.biases + bn_trainable, 0)
        before = before if np.ndim(before) else before.item()
        assert got.trainable == before and type(got.trainable) is type(before)


def test_reference_grid_values_equal_one_costing_per_check():
    """reference.figures counts whole-network checks on the grid path (one expansion per table, convention, class
    count, top and options, all its alphas and resolutions at once): each value, and its type, is the one
    ``compute`` gives from one ``engine.cost`` of the check's configuration."""
    from mnetcost import reference

    _, checks = reference._rows()
    gridded, costs = reference.grid_values(checks), {}
    assert len(gridded) > 250  # most checks are points of a grid
    for i, check in enumerate(checks):
        if i in gridded:
            one = reference.compute(check, costs)
            assert gridded[i] == one and type(gridded[i]) is type(one), check


def test_reference_figures_equal_the_per_check_path():
    """Every figure's computed value and verdict, as ``compute`` per check gives them (the path before the grid)."""
    from mnetcost import reference

    published, checks = reference._rows()
    costs = {}
    figures = reference.figures()
    assert len(figures) == len(checks)
    for figure, check in zip(figures, checks):
        before = reference.compute(check, costs)
        assert figure.computed == before and type(figure.computed) is type(before), check
    assert all(f.agrees for f in figures)
