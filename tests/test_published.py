"""Every published figure of tables/reference/published.csv (a copy of the project's reference file,
with its citations) is checked here, row by row: reproduced to the precision it was printed with,
under its source's convention, or recorded as an erratum (with the corrected figure from another
source) or as unexplained, each with a one-line reason in tables/reference/checks.csv."""

import csv
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

import mnetcost
from mnetcost import reference

DATA = Path(__file__).resolve().parent.parent / "tables" / "reference"
PUBLISHED = list(csv.DictReader(open(DATA / "published.csv", encoding="utf-8")))
CHECKS = list(csv.DictReader(open(DATA / "checks.csv", encoding="utf-8")))
VERDICTS = {"match", "erratum", "unexplained", "not_computed"}


def published_text(row, check):
    if check["quantity"] == "macs":
        return row["macs_millions"]
    if check["rounding"] == "exact" and row["params_exact"]:
        return row["params_exact"]
    return row["params_millions"]


def printed(value, text, rounding):
    """(ours, theirs): ``value`` (a count) as the source prints ``text`` — millions to as many
    decimals as it has, rounded or floored, to a multiple of Q millions (``round_Q``, for billions),
    or both as exact integers."""
    if rounding == "exact":
        exact = Decimal(text) * 10**6 if "." in text else Decimal(text)  # "567.716352" M, or a params_exact integer
        assert exact == exact.to_integral_value(), f"{text} is not an exact count"
        return Decimal(int(value)), exact
    millions = Decimal(str(value)) / 10**6
    if rounding.startswith("round_"):
        q = Decimal(rounding[len("round_"):])
        return (millions / q).quantize(Decimal(1), rounding=ROUND_HALF_UP) * q, Decimal(text)
    places = len(text.split(".")[1]) if "." in text else 0
    mode = ROUND_FLOOR if rounding == "floor" else ROUND_HALF_UP
    return millions.quantize(Decimal(1).scaleb(-places), rounding=mode), Decimal(text)


def test_every_published_figure_has_exactly_one_check():
    wanted = set()
    for i, row in enumerate(PUBLISHED, start=1):
        if row["macs_millions"]:
            wanted.add((i, "macs"))
        if row["params_millions"] or row["params_exact"]:
            wanted.add((i, "params"))
    have = [(int(c["row"]), c["quantity"]) for c in CHECKS]
    assert len(have) == len(set(have)), "a figure is checked twice"
    assert set(have) == wanted


@pytest.mark.parametrize(
    "check", CHECKS,
    ids=[f"{c['row']}-{c['source']}-{c['model'] or 'none'}-{c['alpha']}-{c['resolution']}-{c['variant'] or 'base'}-{c['quantity']}" for c in CHECKS],
)
def test_published_figure(check):
    row = PUBLISHED[int(check["row"]) - 1]
    assert (row["source"], row["variant"]) == (check["source"], check["variant"]), "checks file out of step"
    assert check["verdict"] in VERDICTS
    if check["verdict"] == "not_computed":
        assert check["reason"]
        assert check["model"] not in mnetcost.model_names()
        return
    text = published_text(row, check)
    ours, theirs = printed(reference.compute(check), text, check["rounding"])
    if check["verdict"] == "match":
        assert ours == theirs, f"computed {ours}, published {theirs} ({check['reason']})"
    elif check["verdict"] == "erratum":
        assert check["reason"] and check["expected"]
        assert ours != theirs, f"the erratum now matches: {check['reason']}"
        assert ours == Decimal(check["expected"]), f"computed {ours}, corrected figure {check['expected']}"
    else:
        assert check["reason"]
        assert ours != theirs, f"an unexplained figure now matches ({ours}); update its verdict"


def test_reference_figures_agree_with_their_verdicts():
    figures = reference.figures()
    assert len(figures) == len(CHECKS) and all(f.agrees for f in figures)
    v1 = reference.figures("v1", per_layer=False)
    assert {f.published_model for f in v1} == {"mobilenet_v1", "v1_single_layer_DK3_M512_N512_DF14"}
    assert not any(f.scope.startswith("layer:") for f in v1)
