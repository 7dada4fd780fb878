"""Architecture tables: finding, reading and validating the CSVs, shipped or the user's own.

A table is a CSV whose leading ``# key: value`` lines are metadata (name, title, family, resolution,
channels, source, ref, erratum, note) and whose rows read like the papers' tables. Shipped tables live in the
project's top-level ``tables/`` folder, installed as ``mnetcost/tables``.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import TableError, UnknownModel

FAMILIES = ("v1", "v2", "v3", "mnasnet", "efficientnet")
ROW_OPS = ("conv", "dw", "dwsep", "bneck", "pool", "fc")
ROLES = ("stem", "block", "last", "head", "classes", "fixed")
ACTIVATIONS = ("RE", "RE6", "HS", "SW", "-", "")
REQUIRED = ("stage", "op", "kernel", "out", "n", "stride")
OPTIONAL = ("input", "operator", "t", "exp", "se", "nl", "bn", "width", "residual", "source", "note")
NOT_MODELS = {"conventions", "devices"}
MAX_REPEATS = 1000
MAX_VALUE = 2**31  # widths, kernels, strides, resolutions: beyond any network, and counts stay inside 64 bits


@dataclass(frozen=True)
class Row:
    """One table row, in the paper's symbols: kernel D_K, expansion t or exp, output width c, repeats n, stride s."""

    stage: str
    op: str
    kernel: int
    out: int | None  # None: keeps its input width (dw, pool); classes rows hold 0 and take K at expansion
    n: int
    stride: int
    t: float | None = None
    exp: int | None = None
    se: bool = False
    nl: str = ""
    bn: bool = True
    width: str = "block"
    residual: bool | None = None  # None: when stride is 1 and widths match (bneck only)
    input: str = ""
    operator: str = ""
    source: str = ""
    line: int = 0


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    family: str
    resolution: int
    rows: tuple[Row, ...]
    channels: int = 3  # input channels
    source: str = ""
    ref: str = ""  # a short citation for listings ("V2 paper, Table 2")
    errata: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    path: str = ""
    meta: dict = field(default_factory=dict, compare=False)


@lru_cache(maxsize=1)
def tables_dir() -> Path:
    """The folder of shipped tables: ``mnetcost/tables`` in a wheel, ``tables/`` in a source checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "tables"
    return packaged if packaged.is_dir() else here.parent / "tables"


def model_names() -> list[str]:
    """Names of the shipped architecture tables."""
    return sorted(p.stem for p in tables_dir().glob("*.csv") if p.stem not in NOT_MODELS)


def load_table(model: str | Path) -> Table:
    """A shipped table by name (``"v2"``), or a CSV file by path."""
    if isinstance(model, Table):
        return model
    text = str(model)
    if text.endswith(".csv") or "/" in text or Path(text).is_file():
        path = Path(text).expanduser()
        if not path.is_file():
            raise UnknownModel(f"no table file at {text!r}")
        return _load(str(path.resolve()), path.stat().st_mtime)
    shipped = tables_dir() / f"{text}.csv"
    if text in NOT_MODELS or not shipped.is_file():
        raise UnknownModel(f"unknown model {text!r}; shipped tables: {', '.join(model_names())} (or give a path to a CSV)")
    return _load(str(shipped), 0.0)


@lru_cache(maxsize=64)
def _load(path: str, mtime: float) -> Table:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TableError(f"{path}: cannot read: {e}") from None
    return parse_table(text, path)


def parse_table(text: str, path: str = "<table>") -> Table:
    """Parse and validate a table's text. Every problem found is reported, one line each."""
    meta: dict[str, list[str]] = {}
    body_lines = []
    first_body_line = None
    for i, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#") and first_body_line is None:
            key, sep, value = line[1:].partition(":")
            if sep:
                meta.setdefault(key.strip().lower(), []).append(value.strip())
            continue
        if first_body_line is None and line.strip():
            first_body_line = i
        if first_body_line is not None:
            body_lines.append(line)
    name = Path(path).stem
    problems: list[str] = []
    where = Path(path).name

    def meta1(key, default=""):
        return meta.get(key, [default])[0]

    family = meta1("family")
    if family not in FAMILIES:
        problems.append(f"{where}: metadata 'family' must be one of {', '.join(FAMILIES)}, got {family!r}")
    def meta_int(key, default: int) -> int:
        text = meta1(key, str(default))
        if text.isdigit() and 0 < int(text) <= MAX_VALUE:
            return int(text)
        problems.append(f"{where}: metadata '{key}' must be a positive integer, got {text!r}")
        return default

    resolution = meta_int("resolution", 224)
    if first_body_line is None:
        raise TableError(f"{where}: no header row and no rows")
    reader = csv.DictReader(io.StringIO("\n".join(body_lines)))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise TableError(f"{where}: missing column(s) {', '.join(missing)} (header: {','.join(header)})")
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        problems.append(f"{where}: unknown column(s) {', '.join(unknown)}")
    rows = []
    stages: dict[str, int] = {}
    channels = meta_int("channels", 3)
    width = channels  # the running width at paper scale, to check explicit residuals
    for k, raw in enumerate(reader):
        line = first_body_line + 1 + k
        raw = {(key or "").strip(): (v or "").strip() for key, v in raw.items() if key is not None}
        if not any(raw.values()):
            continue
        row = _parse_row(raw, where, line, problems)
        if row is None:
            width = None
            continue
        if row.stage in stages:
            problems.append(f"{where}, line {line}, column stage: duplicate stage name (first at line {stages[row.stage]}), "
                            f"got {row.stage!r}")
        stages.setdefault(row.stage, line)
        if row.residual and width is not None and (row.stride != 1 or width != row.out):
            problems.append(f"{where}, line {line}, column residual: a residual needs stride 1 and equal input and "
                            f"output widths, got stride {row.stride} and widths {width} -> {row.out}")
        if row.op in ("conv", "dwsep", "bneck", "fc") and width is not None:
            width = row.out if row.width != "classes" else None
        rows.append(row)
    if not rows and not problems:
        problems.append(f"{where}: the table has no rows")
    if problems:
        raise TableError("\n".join(problems))
    return Table(
        name=meta1("name", name),
        title=meta1("title", name),
        family=family,
        resolution=resolution,
        rows=tuple(rows),
        channels=channels,
        source=meta1("source"),
        ref=meta1("ref") or meta1("source")[:40],
        errata=tuple(meta.get("erratum", [])),
        notes=tuple(meta.get("note", [])),
        path=path,
        meta={k: v for k, v in meta.items()},
    )


def _parse_row(raw: dict, where: str, line: int, problems: list[str]) -> Row | None:
    n_before = len(problems)

    def bad(col, msg):
        problems.append(f"{where}, line {line}, column {col}: {msg}, got {raw.get(col, '')!r}")

    def pos_int(col, default=None, allow_blank=False):
        text = raw.get(col, "")
        if text == "":
            if allow_blank or default is not None:
                return default
            bad(col, "must be a positive integer")
            return None
        try:
            value = float(text)
        except ValueError:
            bad(col, "must be a positive integer")
            return None
        if not math.isfinite(value) or value != int(value) or value <= 0:
            bad(col, "must be a positive integer")
            return None
        if value > MAX_VALUE:
            bad(col, f"must be at most {MAX_VALUE}")
            return None
        return int(value)

    op = raw.get("op", "")
    if op not in ROW_OPS:
        bad("op", f"unknown op (allowed: {', '.join(ROW_OPS)})")
        return None
    kernel = pos_int("kernel", default=1 if op in ("fc", "pool") else None)
    stride = pos_int("stride", default=1)
    n = pos_int("n", default=1)
    width = raw.get("width", "") or "block"
    out_text = raw.get("out", "")
    out = None
    if out_text.lower() == "k":
        if op != "fc":
            bad("out", "'k' (the class count) is only for an fc row")
        width = "classes"
        out = 0
    elif op in ("dw", "pool"):
        if out_text:
            bad("out", f"a {op} row keeps its input width; leave out blank")
    else:
        out = pos_int("out")
    if width not in ROLES:
        bad("width", f"unknown width role (allowed: {', '.join(ROLES)})")
    t = exp = None
    if raw.get("t", ""):
        if op != "bneck":
            bad("t", "an expansion factor is only for a bneck row")
        else:
            try:
                t = float(raw["t"])
                if not math.isfinite(t) or t <= 0:
                    raise ValueError
            except ValueError:
                bad("t", "must be a number > 0")
    if raw.get("exp", ""):
        if op != "bneck":
            bad("exp", "an expansion width is only for a bneck row")
        else:
            exp = pos_int("exp")
    if op == "bneck" and t is None and exp is None and len(problems) == n_before:
        bad("t", "a bneck row needs an expansion: t (factor) or exp (width)")
    if op == "bneck" and t is not None and exp is not None:
        bad("exp", "give t or exp, not both")
    stage = raw.get("stage", "")
    if "." in stage:
        bad("stage", "a stage name cannot contain '.' (repeated blocks are named stage.1, stage.2, ...)")
    flags = {}
    for col, default in (("se", False), ("bn", op in ("conv", "dw", "dwsep", "bneck")), ("residual", None)):
        text = raw.get(col, "")
        if text in ("", "-"):
            flags[col] = default
        elif text in ("1", "0"):
            flags[col] = text == "1"
        else:
            bad(col, "must be 1, 0 or blank")
    if flags.get("se") and op != "bneck":
        bad("se", "squeeze-excite is only for a bneck row")
    if flags.get("residual") is not None and op != "bneck":
        bad("residual", "a residual connection is only for a bneck row")
    nl = raw.get("nl", "")
    if nl not in ACTIVATIONS:
        bad("nl", f"unknown activation (allowed: {', '.join(a for a in ACTIVATIONS if a)})")
    if n is not None and n > 1 and op in ("pool", "fc"):
        bad("n", f"a {op} row cannot repeat")
    if n is not None and n > MAX_REPEATS:
        bad("n", f"at most {MAX_REPEATS} repeats")
    if len(problems) != n_before:
        return None
    return Row(
        stage=raw.get("stage", "") or f"row{line}",
        op=op,
        kernel=kernel,
        out=out,
        n=n,
        stride=stride,
        t=t,
        exp=exp,
        se=flags["se"],
        nl=nl,
        bn=flags["bn"],
        width=width,
        residual=flags["residual"],
        input=raw.get("input", ""),
        operator=raw.get("operator", ""),
        source=raw.get("source", ""),
        line=line,
    )
