"""Counting conventions: which widths, parameters and classes a source counts.

"Mult-adds" and "parameters" are not well-defined until one names what is counted. A convention
fixes, per architecture family, the channel-rounding rule of each width role, the class count, and
how many values each BatchNorm channel contributes. The rules are data: ``tables/conventions.csv``.
Under every convention one multiply-add is one MAC; BatchNorm, activations, pooling, residual
additions and bias additions are not counted as MACs; biases exist exactly on layers without
BatchNorm (FC, SE and NBN convs).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from .errors import TableError, UnknownConvention
from .scaling import SQUEEZE_RULES, WIDTH_RULES
from .tables import FAMILIES, tables_dir

ROLE_COLUMNS = ("stem", "block", "expand", "last", "head", "extra")
COUNTER_COLUMNS = ("bn_ops", "bn_ops_channel", "pool_in", "pool_out", "se_pool_in", "se_pool_out", "bias_ops",
                   "upsample_out")
ACTIVATIONS = ("RE", "RE6", "HS", "HSIG", "SW", "SIG", "GE")


def _act_ops(text: str, where: str, line: int) -> dict:
    """'RE=2;RE6=1' -> {'RE': 2, 'RE6': 1}."""
    out = {}
    for item in filter(None, (t.strip() for t in text.split(";"))):
        key, _, value = item.partition("=")
        if key not in ACTIVATIONS or not value.isdigit():
            raise TableError(f"{where}, line {line}, column act_ops: expected NAME=N with NAME in {', '.join(ACTIVATIONS)}, got {item!r}")
        out[key] = int(value)
    return out


@dataclass(frozen=True)
class Shaping:
    """What of a convention's rules decides a network's shape, and all that its expansion may read: the width
    rule of each role, the squeeze-excite width rule and the SSD anchors (hashable: expansions are kept by it)."""

    widths: tuple  # (role, width rule name) pairs
    se_squeeze: str
    anchors: int
    anchors_first: int

    @cached_property
    def _by_role(self) -> dict:
        return dict(self.widths)

    def width_rule(self, role: str) -> str:
        if role == "fixed":  # a row that states its width is never scaled, whatever the convention
            return "fixed"
        return self._by_role.get(role) or self._by_role["block"]


@dataclass(frozen=True)
class Rules:
    """One convention's rules for one family."""

    convention: str
    family: str
    classes: int
    widths: dict  # role -> width rule name
    se_squeeze: str
    bn_params: int  # values per BatchNorm channel counted as parameters
    bn_trainable: int  # of which trainable
    note: str
    # Operations a FLOP counter adds to the mult-adds (all zero for the papers and frameworks):
    bn_ops: int = 0  # per BatchNorm output element
    bn_ops_channel: int = 0  # per BatchNorm channel
    act_ops: dict = field(default_factory=dict)  # activation (RE, RE6, HS, HSIG) -> ops per output element
    pool_in: int = 0  # global pooling: per input element
    pool_out: int = 0  # ... and per output element
    se_pool_in: int = 0  # squeeze-excite pooling, likewise
    se_pool_out: int = 0
    bias_ops: int = 0  # per output element of a layer with biases
    upsample_out: int = 0  # per output element of a bilinear upsampling
    se_act: str = "RE"  # squeeze-excite's inner activation ...
    se_gate: str = "HSIG"  # ... and its gate (hard sigmoid in V3, sigmoid in EfficientNet)
    anchors: int = 6  # SSD: boxes per location of each feature map ...
    anchors_first: int = 6  # ... and of the first (lowest) one
    attention: int = 1  # 0: the attention matmuls are reported as 0 (FlopCounterMode on CPU fused attention)
    dropout: str = ""  # the framework's dropout before the classifier: "" none, "new" (a new tensor) or "inplace"

    @cached_property  # asked once per layer counted
    def counts_other_ops(self) -> bool:
        """Does this convention count anything besides mult-adds (a FLOP counter's)?"""
        return bool(self.bn_ops or self.bn_ops_channel or any(self.act_ops.values()) or self.pool_in
                    or self.pool_out or self.se_pool_in or self.se_pool_out or self.bias_ops or self.upsample_out
                    or not self.attention)

    @cached_property
    def shaping(self) -> Shaping:
        return Shaping(tuple(sorted(self.widths.items())), self.se_squeeze, self.anchors, self.anchors_first)

    def width_rule(self, role: str) -> str:
        return self.shaping.width_rule(role)


@dataclass(frozen=True)
class Convention:
    name: str
    rules_by_family: dict

    def rules(self, family: str) -> Rules:
        try:
            return self.rules_by_family[family]
        except KeyError:
            raise UnknownConvention(f"convention {self.name!r} has no rules for family {family!r}") from None

    @property
    def classes(self) -> int:
        return next(iter(self.rules_by_family.values())).classes


@lru_cache(maxsize=1)
def _conventions() -> dict[str, Convention]:
    path = tables_dir() / "conventions.csv"
    by_name: dict[str, dict] = {}
    with open(path, encoding="utf-8", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            widths = {role: row[role] for role in ROLE_COLUMNS if row[role]}
            for role, rule in widths.items():
                if rule not in WIDTH_RULES:
                    raise TableError(f"{path.name}, line {line}, column {role}: unknown width rule {rule!r}")
            if row["se_squeeze"] and row["se_squeeze"] not in SQUEEZE_RULES:
                raise TableError(f"{path.name}, line {line}, column se_squeeze: unknown rule {row['se_squeeze']!r}")
            if row["family"] not in FAMILIES:
                raise TableError(f"{path.name}, line {line}, column family: unknown family {row['family']!r}")
            by_name.setdefault(row["convention"], {})[row["family"]] = Rules(
                convention=row["convention"],
                family=row["family"],
                classes=int(row["classes"]),
                widths=widths,
                se_squeeze=row["se_squeeze"] or "div8",
                bn_params=int(row["bn_params"]),
                bn_trainable=int(row["bn_trainable"]),
                note=row["note"],
                act_ops=_act_ops(row["act_ops"], path.name, line),
                se_act=row.get("se_act") or "RE",
                se_gate=row.get("se_gate") or "HSIG",
                anchors=int(row.get("anchors") or 6),
                anchors_first=int(row.get("anchors_first") or 6),
                attention=int(row.get("attention") or 1),
                dropout=row.get("dropout") or "",
                **{key: int(row[key]) for key in COUNTER_COLUMNS},
            )
    return {name: Convention(name, rules) for name, rules in by_name.items()}


def convention_names() -> list[str]:
    return list(_conventions())


def get_convention(name) -> Convention:
    if isinstance(name, Convention):
        return name
    try:
        return _conventions()[str(name)]
    except KeyError:
        raise UnknownConvention(
            f"unknown convention {name!r}; choose one of {', '.join(convention_names())}"
        ) from None
