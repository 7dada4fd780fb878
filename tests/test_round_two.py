"""Issue 20, round two: one test per class of defect, each failing on the code before its fix.

Classes: (1) verify and measure bounded by the bytes a forward pass needs; (2) measurements that name a
user's table; (3) everything mnetcost writes reads back; (4) work bounded in time; (5) the library raises
only its own errors, in words a user can act on; (6) non-square sizes in ``Memory.by_resolution``."""

import pytest

import mnetcost
from mnetcost.errors import MnetcostError, UsageError


# ---- (6) non-square inputs keep their width in the widest-tensor rows

def test_by_resolution_keys_non_square_sizes_by_height_and_width():
    rows = mnetcost.memory("v2", resolution=(224, 160)).by_resolution()
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

    r, layers, _ = cost_layers("v4-hybrid-medium", convention="timm", resolution=2048)
    f = traffic.forward_bytes(r, layers)
    assert f.score_bytes > 1e9  # the attention matrices: heads x N_q x N_kv, float32
    with pytest.raises(UsageError, match=r"needs about 1,386 MB .*attention scores 1,074 MB.*limit of 268 MB"):
        traffic.check_forward(r, layers, "verify")
    with pytest.raises(UsageError, match=r"measure builds and runs the network: v2 .* 517 MB"):
        check_config({"model": "v2", "alpha": 1.0, "resolution": 2048, "convention": "paper"})
    with pytest.raises(UsageError, match=r"8,067 MB"):  # the library's own measure: refused before any import
        mnetcost.measure([{"model": "v2", "alpha": 1.0, "resolution": 8192, "convention": "paper"}])
    r, layers, _ = cost_layers("v2", resolution=1024)
    assert traffic.check_forward(r, layers, "verify").total < traffic.FORWARD_LIMIT
