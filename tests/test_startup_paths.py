"""Start-up (benchmarks/startup.py): each faster path is tested equal to the path it replaced."""

import dataclasses

import numpy as np
import pytest

from mnetcost import engine
from mnetcost.expand import single


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
