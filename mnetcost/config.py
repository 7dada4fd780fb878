"""One configuration value: what every entry point needs besides the model, validated once, here.

``Config(alpha=0.75, resolution=160, convention="torchvision")`` is frozen and checked when made; every
library entry point takes one as ``config=``, or the same names as keywords (``cost("v2", alpha=0.75)``),
from which it makes one. ``bind(config, table)`` adds the checks that need the table (its total stride,
its params, its switches) and returns the ``Setup`` the engine runs on.

The few validators every number goes through live here too: ``number`` (a finite real in a range),
``whole`` (an integer in a range), ``flag`` and ``choice``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

import numpy as np

from .errors import UsageError
from .ops import BUILTIN, Ops, check_ops
from .vocab import MAX_VALUE

SPATIAL_MODES = ("exact", "continuous")
MAX_HEAD = 100  # dense layers in a replacement top


def number(value, name: str, *, low: float = 0.0, high: float = math.inf, low_open: bool = True) -> float:
    """``value`` as a float: a real number (not a bool or a string), finite, above ``low`` (or at least,
    when ``low_open`` is False) and at most ``high``."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise UsageError(f"{name} must be a number, got {value!r:.80}")
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"{name} must be a number, got {value!r:.80}") from None
    if not math.isfinite(x) or (x <= low if low_open else x < low) or x > high:
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        limit = "" if not math.isfinite(high) else f" and at most {high:,.0f}" if high == int(high) else f" and at most {high:g}"
        raise UsageError(f"{name} must be a finite number {bound}{limit}, got {value!r:.80}")
    return x


def numbers(value, name: str, *, low: float = 0.0, low_open: bool = True):
    """``number`` for a number or, element by element, an array of them (a notebook's vectorised formula):
    a float, or a float array."""
    if np.ndim(value) == 0:
        return number(value, name, low=low, low_open=low_open)
    try:
        values = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be numbers, got {value!r:.80}") from None
    bad = ~np.isfinite(values) | ((values <= low) if low_open else (values < low))
    if bad.any():
        number(values[bad].flat[0], name, low=low, low_open=low_open)  # raises, naming the value
    return values


def whole(value, name: str, *, low: int = 1, high: int = MAX_VALUE) -> int:
    """``value`` as an int: an integer (not a bool, not a float) from ``low`` to ``high``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise UsageError(f"{name} must be a whole number from {low:,} to {high:,}, got {value!r:.80}")
    return int(value)


def flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise UsageError(f"{name} must be True or False, got {value!r:.80}")
    return bool(value)


def choice(value, name: str, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise UsageError(f"unknown {name} {value!r:.80}; choose one of {', '.join(choices)}")
    return value


def pixels(value, name: str = "resolution") -> int:
    """A whole number of pixels from 1 to ``MAX_VALUE`` (a float equal to an integer, or such a number
    written as text, is accepted)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise UsageError(f"{name} must be a whole number of pixels, got {value!r:.80}") from None
    x = number(value, name, high=MAX_VALUE)
    if x != int(x):
        raise UsageError(f"{name} must be a whole number of pixels, got {value!r:.80}")
    return int(x)


def resolution_value(resolution):
    """A resolution: a number (square), an (H, W) pair or "HxW"; an int, or an (H, W) tuple when not square."""
    pair = resolution.lower().split("x") if isinstance(resolution, str) and "x" in resolution.lower() else resolution
    if isinstance(pair, (tuple, list)):
        if len(pair) != 2:
            raise UsageError(f"a resolution is one number or a height x width pair, got {resolution!r:.80}")
        h, w = (pixels(v) for v in pair)
        return h if h == w else (h, w)
    return pixels(pair)


def head_widths(head) -> tuple | None:
    """Dense-layer widths of a replacement top."""
    if head is None:
        return None
    if isinstance(head, (str, bytes)) or not hasattr(head, "__iter__"):
        raise UsageError(f"head is a list of dense-layer widths, e.g. (320, 320), got {head!r:.80}")
    widths = tuple(head)
    if len(widths) > MAX_HEAD:
        raise UsageError(f"a head of at most {MAX_HEAD} dense layers, got {len(widths)}")
    return tuple(whole(w, "head widths") for w in widths)


def symbol_values(symbols) -> tuple:
    """A table's params set by name (``{"f": 256}``): (name, channels) pairs."""
    if symbols is None:
        return ()
    if isinstance(symbols, tuple):
        symbols = dict(symbols)
    if not isinstance(symbols, dict):
        raise UsageError(f"symbols must be a dict of table params, got {symbols!r:.80}")
    return tuple((str(k).lower(), whole(v, f"param {k}")) for k, v in symbols.items())


def stage_alphas(stage_alpha) -> np.ndarray | None:
    """Per-row multipliers: a 1-D array (one configuration) or configurations x rows, each > 0."""
    if stage_alpha is None:
        return None
    try:
        values = np.asarray(stage_alpha)
        if values.dtype.kind not in "iuf":
            raise TypeError
        values = values.astype(float)
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"stage_alpha must be numbers, one per table row, got {stage_alpha!r:.80}") from None
    if values.ndim not in (1, 2) or not values.size:
        raise UsageError(f"stage_alpha must be one multiplier per table row, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise UsageError("every stage multiplier must be a finite number > 0")
    return values


@dataclass(frozen=True)
class Config:
    """One configuration: width (``alpha``, or ``stage_alpha``: one multiplier per table row), input size
    (``rho`` or ``resolution``, not both; a resolution may be an (H, W) pair or "HxW"), counting
    ``convention``, ``classes``, ``spatial`` mode, the top (``top=False`` drops it, ``head=(320, 320)``
    replaces it), row switches (``aux``), ``reduced_tail``, the table's params (``symbols``) and the op set
    (``ops``). Validated when made."""

    alpha: float = 1.0
    rho: float | None = None
    resolution: object = None
    convention: object = "paper"
    classes: int | None = None
    spatial: str = "exact"
    top: bool = True
    head: tuple | None = None
    stage_alpha: object = field(default=None, compare=False)
    aux: bool = False
    reduced_tail: bool = False
    symbols: tuple = ()
    ops: Ops = BUILTIN

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "alpha", number(self.alpha, "alpha"))
        if self.rho is not None and self.resolution is not None:
            raise UsageError(f"give rho or resolution, not both (rho={self.rho!r}, resolution={self.resolution!r})")
        if self.rho is not None:
            set_(self, "rho", number(self.rho, "rho", high=MAX_VALUE))
        if self.resolution is not None:
            set_(self, "resolution", resolution_value(self.resolution))
        if not isinstance(self.convention, str) and type(self.convention).__name__ != "Rules":
            raise UsageError(f"convention must be a convention's name, got {self.convention!r:.80}")
        if self.classes is not None:
            set_(self, "classes", whole(self.classes, "classes"))
        choice(self.spatial, "spatial mode", SPATIAL_MODES)
        set_(self, "top", flag(self.top, "top"))
        set_(self, "head", head_widths(self.head))
        if self.head is not None and not self.top:
            raise UsageError("give a head or no top, not both")
        set_(self, "stage_alpha", stage_alphas(self.stage_alpha))
        if self.stage_alpha is not None and self.alpha != 1.0:
            raise UsageError("give alpha or stage_alpha, not both")
        set_(self, "aux", flag(self.aux, "aux"))
        set_(self, "reduced_tail", flag(self.reduced_tail, "reduced_tail"))
        set_(self, "symbols", symbol_values(self.symbols))
        set_(self, "ops", check_ops(self.ops))

    def with_(self, **changes) -> "Config":
        """This configuration with some fields changed (validated again)."""
        return replace(self, **changes)


NAMES = tuple(f.name for f in fields(Config))


def configure(config: Config | None = None, defaults: dict | None = None, **options) -> Config:
    """The configuration an entry point runs: ``config``, or one made from keyword ``options`` over the entry
    point's ``defaults`` (its own default convention, say). Both at once is an error; so is an unknown name."""
    unknown = set(options) - set(NAMES)
    if unknown:
        raise UsageError(f"unknown option {sorted(unknown)[0]!r}; a configuration takes {', '.join(NAMES)}")
    if config is not None:
        if not isinstance(config, Config):
            raise UsageError(f"config must be a mnetcost.Config, got {type(config).__name__}")
        if options:
            raise UsageError("give a config or keyword options, not both")
        return config
    return Config(**{**(defaults or {}), **options})
