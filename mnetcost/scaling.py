"""Width and resolution scaling: every channel-rounding rule and the spatial arithmetic live here.

A table row states its paper width ``c`` and its *role* (``stem``, ``block``, ``expand``, ``last``,
``head``, ``classes``); a counting convention maps each role of each family to one named rule below.
"""

from __future__ import annotations

import math

from .errors import UsageError


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``v`` to the nearest multiple of ``divisor``, never below ``min_value`` nor 10% under ``v``.

    The rule of TF-slim's ``mobilenet.py`` and torchvision's ``_utils._make_divisible``.
    """
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


# Each rule: (c, alpha, in_scaled, in_paper) -> channels. ``c`` is the paper's width of this layer,
# ``in_scaled``/``in_paper`` the layer's input width after and before scaling (for rules that size a
# layer as a factor of its input, as an expansion does).
def _div8(c, alpha, in_s, in_0):
    """make_divisible(c * alpha, 8): TF-slim V2/V3, torchvision, Keras V2 stem and V3."""
    return make_divisible(c * alpha, 8)


def _div8_int(c, alpha, in_s, in_0):
    """make_divisible(int(c * alpha), 8): Keras MobileNetV2 block outputs."""
    return make_divisible(int(c * alpha), 8)


def _trunc8(c, alpha, in_s, in_0):
    """max(int(c * alpha), 8): TF-slim MobileNet V1 ``depth`` with min_depth=8."""
    return max(int(c * alpha), 8)


def _trunc(c, alpha, in_s, in_0):
    """int(c * alpha): Keras MobileNet V1 (no minimum)."""
    return int(c * alpha)


def _keep_div8(c, alpha, in_s, in_0):
    """c for alpha <= 1, make_divisible(c * alpha, 8) above: the V2 paper's last-layer rule."""
    return c if alpha <= 1.0 else make_divisible(c * alpha, 8)


def _factor_div8(c, alpha, in_s, in_0):
    """make_divisible(in_scaled * c / in_paper, 8): an expansion by a factor of the scaled input
    (TF-slim ``expand_input_by_factor``, Keras V3)."""
    return make_divisible(in_s * (c / in_0), 8)


def _factor_round(c, alpha, in_s, in_0):
    """int(round(in_scaled * t)): torchvision MobileNetV2 ``hidden_dim``."""
    return int(round(in_s * (c / in_0)))


def _factor(c, alpha, in_s, in_0):
    """int(in_scaled * t): Keras MobileNetV2 ``expansion * in_channels``."""
    return int(in_s * (c / in_0))


def _fixed(c, alpha, in_s, in_0):
    """c, whatever alpha."""
    return c


WIDTH_RULES = {
    "div8": _div8,
    "div8_int": _div8_int,
    "trunc8": _trunc8,
    "trunc": _trunc,
    "keep_div8": _keep_div8,
    "factor_div8": _factor_div8,
    "factor_round": _factor_round,
    "factor": _factor,
    "fixed": _fixed,
}

# Squeeze-excite squeeze width from the block's (scaled) expansion and input widths.
SQUEEZE_RULES = {
    "div8_floor": lambda exp, c_in: make_divisible(exp // 4, 8),  # torchvision V3: _make_divisible(exp // 4, 8)
    "div8": lambda exp, c_in: make_divisible(exp / 4, 8),  # Keras / TF-slim V3: _depth(exp * 0.25)
    "quarter_input": lambda exp, c_in: max(1, c_in // 4),  # torchvision EfficientNet: max(1, input_channels // 4)
}


def scale_width(rule: str, c: float, alpha: float, in_s: float, in_0: float) -> int:
    return WIDTH_RULES[rule](c, alpha, in_s, in_0)


def check_alpha(alpha) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise UsageError(f"alpha must be a number > 0, got {alpha!r}") from None
    if not math.isfinite(a) or a <= 0:
        raise UsageError(f"alpha must be a finite number > 0, got {alpha!r}")
    return a


def out_size(h, stride: int, spatial: str):
    """Output height of a layer: ceil(h / stride) with SAME padding (exact), or h / stride (continuous)."""
    if spatial == "exact":
        return -(-h // stride)
    return h / stride
