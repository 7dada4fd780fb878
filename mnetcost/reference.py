"""Published cost figures beside what mnetcost computes for them, under each source's convention.

``tables/reference/published.csv`` holds every published figure we know of (with its citation);
``tables/reference/checks.csv`` says, per figure, which table, convention, scope and rounding it is
computed under, and its verdict: ``match``, ``erratum`` (with the corrected figure), ``unexplained``
or ``not_computed``, each with a one-line reason.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import lru_cache

from .errors import UsageError
from .memo import stored
from .tables import tables_dir

SOURCE_LABELS = {"paper_v1_2017": "V1 paper", "paper_v2_v4": "V2 paper", "paper_v3_final": "V3 paper",
                 "paper_v3_early": "V3 early", "tf_slim": "TF-slim", "torchvision": "torchvision",
                 "keras_io": "keras.io", "keras_applications": "keras-apps", "keras_docstring": "Keras doc",
                 "tf_deeplab": "TF DeepLab", "tf_objdet": "TF ObjDet", "hf_gemma3n_2025": "Gemma 3n"}
FAMILY_OF = {"mobilenet_v1": "v1", "mobilenet_v2": "v2", "mobilenet_v3_large": "v3-large",
             "mobilenet_v3_small": "v3-small", "v1_single_layer_DK3_M512_N512_DF14": "v1", "mobilenetv5_300m": "v5-300m"}


@dataclass(frozen=True)
class Figure:
    """One published figure and mnetcost's computation of it."""

    row: int
    source: str
    published_model: str
    variant: str
    quantity: str  # macs | params
    published: str  # as printed: millions, or an exact count
    model: str
    convention: str
    alpha: str
    resolution: str
    classes: str
    scope: str
    count: str
    rounding: str  # round | floor | exact: how the source printed it
    verdict: str
    expected: str
    reason: str
    citation: str
    note: str
    computed: float | None  # exact count, None when not computed

    @property
    def computed_as_printed(self) -> Decimal | None:
        """mnetcost's value printed the way the source prints: same unit, decimals and rounding."""
        if self.computed is None:
            return None
        return as_printed(self.computed, self.published, self.rounding)

    @property
    def published_value(self) -> Decimal:
        if self.rounding == "exact" and "." in self.published:
            return Decimal(self.published) * 10**6
        return Decimal(self.published)

    @property
    def difference(self) -> float | None:
        """Computed minus published, in counts (published millions taken at face value)."""
        if self.computed is None:
            return None
        published = self.published_value if self.rounding == "exact" else Decimal(self.published) * 10**6
        return float(Decimal(str(self.computed)) - published)

    @property
    def agrees(self) -> bool:
        """Does the computation bear the verdict out?"""
        if self.verdict == "not_computed":
            return self.computed is None
        shown = self.computed_as_printed
        theirs = self.published_value
        if self.verdict == "match":
            return shown == theirs
        if self.verdict == "erratum":
            return shown != theirs and shown == Decimal(self.expected)
        return shown != theirs


def as_printed(value, text: str, rounding: str) -> Decimal:
    """``value`` (a count) as the source prints ``text``: millions to as many decimals as it has,
    rounded or floored, or an exact count. ``round_Q`` rounds the millions to a multiple of Q, for a
    figure printed in billions (0.51B is 510 M to the nearest 10 M: ``round_10``)."""
    if rounding == "exact":
        return Decimal(int(value))
    millions = Decimal(str(value)) / 10**6
    if rounding.startswith("round_"):
        quantum = Decimal(rounding[len("round_"):])
        return (millions / quantum).quantize(Decimal(1), rounding=ROUND_HALF_UP) * quantum
    places = len(text.split(".")[1]) if "." in text else 0
    mode = ROUND_FLOOR if rounding == "floor" else ROUND_HALF_UP
    return millions.quantize(Decimal(1).scaleb(-places), rounding=mode)


@lru_cache(maxsize=1)
def _rows():
    folder = tables_dir() / "reference"
    with open(folder / "published.csv", encoding="utf-8", newline="") as f:
        published = list(csv.DictReader(f))
    with open(folder / "checks.csv", encoding="utf-8", newline="") as f:
        checks = list(csv.DictReader(f))
    return published, checks


def _cost_once(costs):
    """``engine.cost``, each configuration computed once when ``costs`` (a dict) is given: many checks share one
    (a configuration's MACs and its params, a table's totals and its layers)."""
    from .engine import cost

    if costs is None:
        return cost

    def cached(model, **kw):
        key = (model, *sorted((k, repr(v)) for k, v in kw.items()))
        if key not in costs:
            costs[key] = cost(model, **kw)
        return costs[key]

    return cached


def compute(check: dict, costs: dict | None = None):
    """The count mnetcost gives for one check (None for ``not_computed``); ``costs``: a cache of results shared
    by the checks of one call."""
    from .ratios import compare_layer

    cost = _cost_once(costs)

    if check["verdict"] == "not_computed":
        return None
    quantity, scope = check["quantity"], check["scope"]
    if check["model"].startswith("delta:"):  # a design step: B minus A, as the paper's "saves" figures
        _, a, b = check["model"].split(":")
        ra, rb = (cost(m, alpha=float(check["alpha"]), resolution=int(check["resolution"]), convention=check["convention"])
                  for m in (a, b))
        return (rb.macs - ra.macs) if quantity == "macs" else (rb.params - ra.params)
    if check["model"].startswith("layer:"):
        _, k, m, n, d = check["model"].split(":")
        c = compare_layer(int(k), int(m), int(n), float(d), alpha=float(check["alpha"]), rho=float(check["resolution"]))
        if scope == "single:standard":
            return c.macs_standard if quantity == "macs" else c.params_standard
        return c.macs_separable if quantity == "macs" else c.params_separable
    r = cost(check["model"], alpha=float(check["alpha"]), resolution=check["resolution"],
             convention=check["convention"], classes=int(check["classes"]) if check["classes"] else None,
             top=scope != "body", **options(check.get("options", "")))
    column = "macs" if quantity == "macs" else check["count"]
    if scope.startswith("layer:"):
        return r.columns[column][tf_slim_v1_names(r)[scope[len("layer:"):]]].item()
    if scope == "head":  # a head table's own layers, without the backbone's
        return sum(v for v, part in zip(r.columns[column].tolist(), r.columns["part"]) if part == "head")
    return r.columns[column].sum().item()


def _gridded(check: dict) -> bool:
    """Is the check a whole network's total MACs or params at a square resolution: a point of ``engine.grid``?"""
    return (check["verdict"] != "not_computed" and ":" not in check["model"] and check["scope"] in ("total", "body")
            and check["count"] in ("", "params") and check["resolution"].isdigit())


def grid_values(checks) -> dict:
    """The counts of the checks that are points of a grid (``_gridded``), by their index in ``checks``: the
    checks of one table, convention, class count, top and options share one expansion and are counted for all
    their alphas and resolutions at once (``engine.grid_counts``), each the count ``compute`` gives."""
    from .engine import check_alphas, check_resolutions, grid_counts, setup

    groups: dict = {}
    for i, check in enumerate(checks):
        if _gridded(check):
            key = (check["model"], check["convention"], check["classes"], check["scope"], check.get("options", ""))
            groups.setdefault(key, []).append(i)
    values = {}
    for (model, convention, classes, scope, extra), members in groups.items():
        s = setup(model, convention=convention, classes=int(classes) if classes else None, top=scope != "body",
                  **options(extra))
        alphas = sorted({float(checks[i]["alpha"]) for i in members})
        res = sorted({int(checks[i]["resolution"]) for i in members})
        macs, params, _ = grid_counts(s, check_alphas(alphas), check_resolutions(s, res))
        for i in members:
            a, r = alphas.index(float(checks[i]["alpha"])), res.index(int(checks[i]["resolution"]))
            values[i] = (macs[a, r] if checks[i]["quantity"] == "macs" else params[a]).item()
    return values


def options(text: str) -> dict:
    """'aux;reduced_tail;f=256' -> cost() keywords."""
    out: dict = {}
    for item in filter(None, (t.strip() for t in text.split(";"))):
        name, sep, value = item.partition("=")
        if sep:
            out.setdefault("symbols", {})[name] = int(value)
        else:
            out[name] = True
    return out


def tf_slim_v1_names(result) -> dict:
    """TF-slim's names for V1's body layers (Conv2d_0, Conv2d_<i>_depthwise/_pointwise) -> layer index."""
    names, i = {}, 0
    for idx, op in enumerate(result.columns["op"]):
        if op == "conv":
            names["MobilenetV1/Conv2d_0"] = idx
        elif op == "dw":
            i += 1
            names[f"MobilenetV1/Conv2d_{i}_depthwise"] = idx
        elif op == "pw":
            names[f"MobilenetV1/Conv2d_{i}_pointwise"] = idx
    return names


def _computed(checks) -> list:
    """mnetcost's count for each check: the grid's where it can (``grid_values``), else ``compute``'s."""
    gridded, costs = grid_values(checks), {}
    return [gridded[i] if i in gridded else compute(check, costs) for i, check in enumerate(checks)]


def figures(model: str | None = None, per_layer: bool = True) -> list[Figure]:
    """Every published figure (of ``model``'s family or table, if given) with mnetcost's value."""
    published, checks = _rows()
    chosen = [check for check in checks
              if (model is None or model in (check["model"], FAMILY_OF.get(published[int(check["row"]) - 1]["model"])))
              and (per_layer or not check["scope"].startswith("layer:"))]
    if model is not None and not chosen:
        raise UsageError(f"no published figures for {model!r}; try v1, v2, v3-large or v3-small")
    values = stored("reference", [model, per_layer], lambda: _computed(chosen),
                    valid=lambda v: len(v) == len(chosen) and all(type(x) in (int, float, type(None)) for x in v))
    out = []
    for check, computed in zip(chosen, values):
        row = published[int(check["row"]) - 1]
        text = row["macs_millions"] if check["quantity"] == "macs" else (
            row["params_exact"] if check["rounding"] == "exact" and row["params_exact"] else row["params_millions"])
        out.append(Figure(
            row=int(check["row"]), source=row["source"], published_model=row["model"], variant=row["variant"],
            quantity=check["quantity"], published=text, model=check["model"], convention=check["convention"],
            alpha=check["alpha"], resolution=check["resolution"], classes=check["classes"], scope=check["scope"],
            count=check["count"], rounding=check["rounding"], verdict=check["verdict"], expected=check["expected"],
            reason=check["reason"], citation=row["citation"], note=row["note"],
            computed=computed,
        ))
    return out


def v2_table3():
    """The V2 paper's Table 3 (arXiv v4) with each cell's verdict, as a DataFrame."""
    import pandas as pd

    return pd.read_csv(tables_dir() / "reference" / "v2_table3.csv", dtype={"resolution": str})


def latencies():
    """Published Pixel-1 latencies (tables/reference/latency.csv), as a DataFrame."""
    import pandas as pd

    return pd.read_csv(tables_dir() / "reference" / "latency.csv")


def v4_table6():
    """The V4 paper's Table 6 for the MobileNets: published ImageNet top-1, params, MACs and latencies
    (ms) on seven devices (TFLite int8 on the CPUs, Hexagon and EdgeTPU; FP16 on the GPUs; CoreML on
    the iPhone), with the mnetcost table and configuration of each row. Input sizes are not printed in
    Table 6: the architecture tables' (Tables 11-15), 224 for V1-V3."""
    import pandas as pd

    return pd.read_csv(tables_dir() / "reference" / "v4_table6.csv")


def accuracy():
    """Published ImageNet top-1 (and top-5) of the published checkpoints (tables/reference/accuracy.csv):
    TF-slim's V1/V2/V3 tables, Keras' and torchvision's, and the V4 paper's Table 6, each with the
    mnetcost table, convention and class count that build it, and its citation."""
    import pandas as pd

    return pd.read_csv(tables_dir() / "reference" / "accuracy.csv", keep_default_na=False,
                       dtype={"note": str, "variant": str, "top5": str})


def accuracy_records() -> list[dict]:
    """``accuracy()`` as records (``to_dict("records")``), read without pandas: the same values and types."""
    kinds = {"alpha": float, "resolution": int, "classes": int, "top1": float}
    with open(tables_dir() / "reference" / "accuracy.csv", encoding="utf-8", newline="") as f:
        return [{k: kinds.get(k, str)(v) for k, v in row.items()} for row in csv.DictReader(f)]


def v1_table2():
    """The V1 paper's Table 2 (resource per layer type, in % of mult-adds and of parameters), with verdicts."""
    import pandas as pd

    return pd.read_csv(tables_dir() / "reference" / "v1_table2.csv")
