"""Views that say what they show: a roofline's unbounded rates, markdown captions that match their columns
(issue 20)."""


def test_a_roofline_says_where_the_profile_rate_is_unbounded():
    """pixel1-big-core's fitted profile has no finite rate for conv and fc (and an unbounded bandwidth): those
    layers take only the per-layer constant, and the bound column and caption say so (not 'compute')."""
    from mnetcost import reports, views
    from mnetcost.latency import roofline

    r = roofline("v2", device="pixel1-big-core")
    view = views.roofline(r, "v2", reports.memory_bound_ops(r), reports.other_seconds(r))
    bound = {rec["name"]: rec["bound"] for rec in view.records}
    assert bound["conv1"] == bound["fc"] == "unbounded rate" and bound["bneck1.dw"] == "compute"
    assert "unbounded rate (conv1" in view.caption and "per-layer" in view.caption
    finite = roofline("v2", device="pixel1-big-core-peak")
    assert "unbounded" not in str(views.roofline(finite, "v2", {}, 0.0).records)


def test_markdown_compare_mentions_only_its_columns():
    """The markdown table has no Δ columns, so its caption does not explain them."""
    from mnetcost import views
    from mnetcost.explore import comparison

    records, why = comparison(["v2"], [1.0], [None], ["paper", "torchvision"])
    text = views.comparison(records, why, ["paper", "torchvision"], ["v2"], "macs").text("markdown")
    header = text.splitlines()[2]
    assert "Δ" not in header and "difference to the first row" not in text
