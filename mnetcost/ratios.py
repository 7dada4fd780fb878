"""Depthwise separable against standard convolution: the closed form and the exact ratios.

Everything is costed by the op registry's functions; this module only arranges the comparison.
"""

from __future__ import annotations

__all__ = ["separable_ratio", "compare_layer", "block_ratios", "bottleneck_cost", "width_resolution_law", "uib_variants"]  # the public API: the rest are the modules' own parts

import math
from dataclasses import dataclass

import numpy as np

from .config import number, numbers
from .conventions import get_convention
from .engine import Cost, cost
from .errors import UsageError
from .expand import Layer
from .ops import op_cost
from .tables import parse_table
from .vocab import MAX_VALUE as LIMIT  # kernels, widths and sizes beyond any layer


def _counts(op: str, k, c_in, c_out, d):
    """(mult-adds, weights) of one ``op`` layer with a d x d output, from the op registry."""
    size = np.array([d])
    layer = Layer(name=op, stage=op, block=op, op=op, kernel=k, stride=1, groups=1, c_in=c_in, c_out=c_out,
                  h_in=size, w_in=size, h_out=size, w_out=size, bn=True, bias=False, act="")
    c = op_cost(layer, get_convention("paper").rules("v1"))
    return c.macs.value().item(), c.weights


def separable_ratio(n, k):
    """1/N + 1/D_K²: separable over standard cost for N output channels and a D_K x D_K kernel (V1 paper, §3.1)."""
    n, k = numbers(n, "N (output channels)"), numbers(k, "kernel")
    return 1 / n + 1 / (k * k)


@dataclass(frozen=True)
class LayerComparison:
    """One layer: D_K x D_K kernel, M -> N channels on a D_F x D_F map, under alpha and rho."""

    kernel: int
    c_in: float  # alpha·M
    c_out: float  # alpha·N
    size: float  # rho·D_F
    macs_standard: float
    params_standard: float
    macs_depthwise: float
    macs_pointwise: float
    params_separable: float

    @property
    def macs_separable(self):
        return self.macs_depthwise + self.macs_pointwise

    @property
    def ratio(self):
        """Exact separable / standard mult-adds."""
        return self.macs_separable / self.macs_standard

    @property
    def closed_form(self):
        return separable_ratio(self.c_out, self.kernel)


def compare_layer(kernel: int, c_in: int, c_out: int, size: float, alpha: float = 1.0, rho: float = 1.0,
                  spatial: str = "continuous") -> LayerComparison:
    """Standard vs depthwise separable costs of one stride-1 layer (V1 paper, eqs. 2, 5, 7).

    ``continuous`` keeps αM and ρD_F real, as the paper's Table 3 does (14 · 0.714 = 9.996);
    ``exact`` rounds them to whole channels and pixels.

    >>> round(compare_layer(3, 512, 512, 14, alpha=0.75, rho=0.714).macs_separable / 1e6, 1)
    15.1
    """
    alpha = number(alpha, "alpha")
    kernel, c_in, c_out, size, rho = (number(v, name, high=LIMIT) for name, v in (
        ("kernel", kernel), ("in", c_in), ("out", c_out), ("size", size), ("rho", rho)))
    m, n, d = alpha * c_in, alpha * c_out, rho * size
    if spatial == "exact":
        m, n, d = round(m), round(n), round(d)
    elif spatial != "continuous":
        raise UsageError(f"spatial must be exact or continuous, got {spatial!r}")
    if min(m, n, d) < 1 or max(m, n, d) > LIMIT:  # below one channel or pixel, no layer is left
        raise UsageError(f"alpha {alpha:g} and rho {rho:g} give {m:g} -> {n:g} channels at {d:g} px: each must be "
                         f"at least 1 and at most {LIMIT:,}")
    std_macs, std_params = _counts("conv", kernel, m, n, d)
    dw_macs, dw_params = _counts("dw", kernel, m, m, d)
    pw_macs, pw_params = _counts("pw", 1, m, n, d)
    return LayerComparison(kernel, m, n, d, std_macs, std_params, dw_macs, pw_macs, dw_params + pw_params)


def block_ratios(result):
    """Per block with a depthwise layer: its mult-adds against one standard k x k convolution of the
    same input width, output width, stride and output size, with the closed form beside the exact ratio:
    1/N + 1/D_K² for a depthwise separable block, t(d' + k² + d'')/(k²·d'') (V2 paper, §3.3) for a
    stride-1 inverted residual without squeeze-excite. ``result`` is a ``Cost`` or a model's name (costed at
    its defaults)."""
    import pandas as pd

    layers = (result if isinstance(result, Cost) else cost(result)).layers
    rows = []
    for block, g in layers.groupby("block", sort=False):
        dw = g[g["op"] == "dw"]
        if dw.empty:
            continue
        dw = dw.iloc[0]
        convs = g[g["op"].isin(["pw", "dw", "conv"])]
        c_in, c_out = convs.iloc[0]["c_in"], convs.iloc[-1]["c_out"]
        k = int(dw["kernel"])
        std_macs = _counts("conv", k, c_in, c_out, dw["h_out"])[0]
        ops = list(g["op"])
        if ops == ["dw", "pw"]:
            kind, closed = "separable", separable_ratio(c_out, k)
        else:
            kind = "inverted residual"
            t = dw["c_out"] / c_in
            closed = (t * (c_in + k * k + c_out) / (k * k * c_out)
                      if dw["stride"] == 1 and "se" not in ops else float("nan"))
        block_macs = g["macs"].sum()
        rows.append({"block": block, "kind": kind, "kernel": k, "c_in": c_in, "c_out": c_out,
                     "h_out": dw["h_out"], "macs": block_macs, "macs_standard": std_macs,
                     "ratio": block_macs / std_macs, "closed_form": closed})
    return pd.DataFrame(rows)


def bottleneck_cost(h, w, d_in, d_out, t, k=3):
    """The V2 paper's cost of a stride-1 inverted residual block (Section 3.3):
    h · w · d' · t · (d' + k² + d'') mult-adds (expansion, depthwise, projection)."""
    h, w, d_in, d_out, t, k = (numbers(v, name, low=0, low_open=False) for v, name in
                               ((h, "h"), (w, "w"), (d_in, "d_in"), (d_out, "d_out"), (t, "t"), (k, "k")))
    return h * w * d_in * t * (d_in + k * k + d_out)


def width_resolution_law(alpha, rho):
    """The V1 paper's scaling law: the width multiplier cuts the cost by about alpha², the
    resolution multiplier by rho² (Section 4.2 and 4.3); mnetcost's exact counts depart from it
    where channel rounding and whole pixels do."""
    alpha, rho = numbers(alpha, "alpha"), numbers(rho, "rho")
    return alpha * alpha * rho * rho


UIB_VARIANTS = {"ExtraDW": (True, True), "IB": (False, True), "ConvNext": (True, False), "FFN": (False, False)}


def uib_variants(c_in: int, c_out: int | None = None, t: float = 4, size: int = 14, kernel: int = 3,
                 convention="paper"):
    """MobileNetV4's Universal Inverted Bottleneck, one block of ``c_in`` -> ``c_out`` channels with
    expansion ``t`` on a ``size`` x ``size`` map, in its four variants (V4 Section 3.2): ExtraDW (a
    depthwise conv before and after the expansion), IB (after: MobileNetV2's block), ConvNext (before),
    FFN (neither). Each is costed as a one-row table by the one engine; returns a DataFrame."""
    import pandas as pd

    c_out = c_in if c_out is None else c_out
    rows = []
    for variant, (start, mid) in UIB_VARIANTS.items():
        text = (f"# family: v4\n# resolution: {size}\n# channels: {c_in}\nstage,op,start,kernel,t,out,n,stride,nl\n"
                f"uib,uib,{kernel if start else ''},{kernel if mid else ''},{t},{c_out},1,1,RE\n")
        r = cost(parse_table(text, f"<{variant}>"), convention=convention)
        dw = r.layers[r.layers["op"] == "dw"]
        rows.append({"variant": variant, "start": kernel if start else 0, "middle": kernel if mid else 0,
                     "macs": r.macs, "params": r.params, "depthwise_macs": int(dw["macs"].sum()),
                     "pointwise_macs": r.macs - int(dw["macs"].sum())})
    return pd.DataFrame(rows)


def table3(kernel: int, c_in: int, c_out: int, size: float, alpha: float = 1.0, rho: float = 1.0,
           spatial: str = "continuous"):
    """V1 Table 3 for one layer: cumulative rows (standard convolution, depthwise separable, then with
    alpha, then with rho when they differ from 1), each with its mult-adds and params, and the last
    row's ``compare_layer`` (its terms, ratio and closed form). Returns ``(records, comparison)``."""
    steps = [("Convolution", 1.0, 1.0, "standard"), ("Depthwise Separable Conv", 1.0, 1.0, "separable")]
    if alpha != 1.0:
        steps.append((f"alpha = {alpha:g}", alpha, 1.0, "separable"))
    if rho != 1.0:
        steps.append((f"rho = {rho:g}", alpha, rho, "separable"))
    records = []
    for name, a, r, kind in steps:
        c = compare_layer(kernel, c_in, c_out, size, alpha=a, rho=r, spatial=spatial)
        macs, params = (c.macs_standard, c.params_standard) if kind == "standard" else (c.macs_separable, c.params_separable)
        records.append({"layer": name, "alpha": a, "rho": r, "kind": kind, "macs": macs, "params": params})
    return records, compare_layer(kernel, c_in, c_out, size, alpha=alpha, rho=rho, spatial=spatial)
