"""Architecture tables: finding, reading and validating the CSVs, shipped or the user's own.

A table is a CSV whose leading ``# key: value`` lines are metadata (name, title, family, resolution,
channels, source, ref, erratum, note) and whose rows read like the papers' tables. Shipped tables live in the
project's top-level ``tables/`` folder, installed as ``mnetcost/tables``.

A table is a graph: a row reads the row before it unless its ``from`` column names other tensors (a
stage, a block or a layer, such as ``bneck13.expand``). A head table names its backbone (``# backbone:``)
instead of copying its rows, and the backbone's modifications it needs (``# output-stride:``,
``# reduced-tail:``); its rows may then read any tensor of the backbone.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import TableError, UnknownModel
from .rows import MAX_LAYERS, MAX_VALUE, MQA_ARGS, ROW_TYPES, row_type, taking  # noqa: F401  (MQA_ARGS: importable here as before)
from .vocab import ACTIVATIONS, OUT_OF_PLACE  # noqa: F401 (importable here as before)

FAMILIES = ("v1", "v2", "v3", "mnasnet", "efficientnet", "v4", "v5")
# What each row op takes is its row type's (rows.py); these lists are read from the row types.
ROW_OPS = tuple(ROW_TYPES)
BLOCK_OPS = taking("residual")  # rows that expand into several layers, with a residual
EXPANDING_OPS = taking("t")  # rows with an expansion (t or exp)
LAYER_SCALE_OPS = taking("layer_scale")  # rows whose output may pass a layer scale
MERGE_OPS = tuple(op for op, kind in ROW_TYPES.items() if kind.merge)  # rows that read two or more tensors
SHAPE_OPS = tuple(op for op, kind in ROW_TYPES.items() if kind.out == "input")  # rows whose width follows their input(s)
ROLES = ("stem", "block", "last", "head", "extra", "classes", "fixed")
SYMBOLS = ("k", "a", "a1")  # in ``out``: the classes, the anchors per location, those of the first (lowest) map
REQUIRED = ("stage", "op", "kernel", "out", "n", "stride")
OPTIONAL = ("input", "operator", "start", "t", "exp", "se", "nl", "bn", "bias", "width", "residual", "layer_scale", "from",
            "size", "dilation", "when", "args", "source", "note")
SWITCHES = ("aux",)  # values of ``when``: rows that exist only when the switch is on
TAIL_FIELDS = ("out", "exp")
NOT_MODELS = {"conventions", "devices"}
MAX_REPEATS = 1000
MAX_EXPANSION = 10_000  # an expansion factor t beyond any network


@dataclass(frozen=True)
class Row:
    """One table row, in the paper's symbols: kernel D_K, expansion t or exp, output width c, repeats n, stride s."""

    stage: str
    op: str
    kernel: int | None  # None: a uib row without its middle depthwise conv
    out: int | None  # None: keeps its input width (dw, pool, merges); classes rows hold 0 and take ``expr``
    n: int
    stride: int
    t: float | None = None
    exp: int | None = None
    se: bool = False
    nl: str = ""
    bn: bool = True
    width: str = "block"
    residual: bool | None = None  # None: when stride is 1 and widths match (block rows only)
    start: int | None = None  # uib: the start depthwise kernel (before the expansion), None when absent
    layer_scale: bool = False  # uib, fused, mqa: a learned per-channel scale of the block's output (V4 hybrids)
    bias: bool | None = None  # None: exactly when there is no BatchNorm
    inputs: tuple[str, ...] = ()  # the tensors read; () = the previous row's output
    size: str = ""  # upsample: the tensor whose height and width it takes ("input": the image's)
    dilation: int = 1
    when: str = ""  # a switch (``aux``) the row exists under
    expr: tuple = ()  # ``out`` as a product of integers and symbols (k, a, a1), e.g. ("a", "k")
    args: tuple = ()  # op-specific arguments, (name, value) pairs
    input: str = ""
    operator: str = ""
    source: str = ""
    line: int = 0
    part: str = "head"  # "backbone": a row of a head table's backbone


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    family: str
    resolution: int
    rows: tuple[Row, ...]  # a head table's: the backbone's rows it keeps, then its own
    channels: int = 3  # input channels
    source: str = ""
    ref: str = ""  # a short citation for listings ("V2 paper, Table 2")
    errata: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    path: str = ""
    meta: dict = field(default_factory=dict, compare=False)
    backbone: str = ""  # the backbone table's name, for a head table
    output_stride: int | None = None  # backbone strides beyond it become dilations (DeepLab's output_stride)
    reduced_tail: tuple = ()  # (stage, field) pairs halved by ``reduced_tail=True`` (V3's RF2 / dagger)
    classes: int | None = None  # the table's own default class count (a head's dataset)
    params: tuple = ()  # (name, default) of the table's own width symbols (``# param: f=128``)
    total_stride: int = 1  # the largest stride of a tensor (of the backbone, for a head table): the smallest input

    @property
    def switches(self) -> set:
        return {row.when for row in self.rows if row.when}

    @property
    def where(self) -> str:
        """What a message about a row names: the file of a user's table (its ``# name:`` may be anything, a
        shipped name included), a shipped table's name."""
        path = Path(self.path) if self.path and not self.path.startswith("<") else None
        return path.name if path is not None and path.resolve().parent != tables_dir() else self.name


@lru_cache(maxsize=1)
def tables_dir() -> Path:
    """The folder of shipped tables: ``mnetcost/tables`` in a wheel, ``tables/`` in a source checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "tables"
    return packaged if packaged.is_dir() else here.parent / "tables"


def model_names() -> list[str]:
    """Names of the shipped architecture tables."""
    return sorted(p.stem for p in tables_dir().glob("*.csv") if p.stem not in NOT_MODELS)


def load_table(model: str | Path, ops=None) -> Table:
    """A shipped table by name (``"v2"``; also the frameworks' names, ``mobilenet_v2``, in any case), or a CSV
    file by path. A shipped name always means the shipped table, even beside a file of that name: a path
    says so with a slash or a .csv ending. Its rows may name the ops a user added to ``ops`` (an op set)."""
    custom = tuple(ops.custom) if ops is not None else ()
    if isinstance(model, Table):
        return model
    if not isinstance(model, (str, Path)):
        raise UnknownModel(f"a model is a table name or a path to a CSV table, got {model!r:.80}")
    text = str(model)
    name = shipped_name(text)  # shipped names are lower case
    if name is not None:
        return _load(str(tables_dir() / f"{name}.csv"), 0.0, custom)
    looks_like_path = text.endswith(".csv") or "/" in text or "\\" in text
    try:
        path = Path(text).expanduser()
        found = path.is_file()
    except (OSError, RuntimeError, ValueError):  # a name too long, ~nosuchuser, a NUL byte
        found = False
    if found:
        return _load(str(path.resolve()), path.stat().st_mtime, custom)
    if looks_like_path:
        raise UnknownModel(f"no table file at {text!r:.300}")
    raise UnknownModel(f"unknown model {text!r:.300}; shipped tables: {', '.join(model_names())} (or give a path to a CSV)")


def shipped_name(model) -> str | None:
    """The shipped table that ``model`` names under ``load_table``'s rule (a name or alias, never a text that
    says it is a path with a slash or a .csv ending), else None: then ``model`` is a path."""
    if not isinstance(model, str) or model.endswith(".csv") or "/" in model or "\\" in model:
        return None
    name = ALIASES.get(model.lower().replace("-", "_"), model.lower())
    return name if name not in NOT_MODELS and _is_file(tables_dir() / f"{name}.csv") else None


def table_reference(model: str, base) -> str:
    """How a file beside ``base`` (a measurements file) names the table ``model``: a shipped name as it is;
    a path relative to ``base``'s folder (``./`` in front when it would read as a name)."""
    import os

    if shipped_name(model) is not None:
        return model
    here = Path(str(base)).expanduser().resolve().parent
    rel = os.path.relpath(Path(model).expanduser().resolve(), here)
    return rel if rel.endswith(".csv") or os.sep in rel or "/" in rel else f".{os.sep}{rel}"


def resolve_reference(model: str, base) -> str:
    """The table a file at ``base`` names by ``model``: a shipped name as it is; a path, relative to ``base``'s
    folder when relative, made absolute (what ``table_reference`` writes reads back to the same file)."""
    if shipped_name(model) is not None:
        return model
    path = Path(model).expanduser()
    path = path if path.is_absolute() else (Path(str(base)).expanduser().resolve().parent / path).resolve()
    looks_like_path = model.endswith(".csv") or "/" in model or "\\" in model
    return str(path) if looks_like_path or _is_file(path) else model  # else: an unknown model, said so by load_table


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


# The frameworks' names for the shipped tables (torchvision, Keras, timm), matched case-insensitively.
ALIASES = {
    "mobilenet": "v1", "mobilenet_v1": "v1", "mobilenetv1": "v1", "mobilenetv1_100": "v1",
    "mobilenet_v2": "v2", "mobilenetv2": "v2", "mobilenetv2_100": "v2",
    "mobilenet_v3_large": "v3-large", "mobilenetv3large": "v3-large", "mobilenetv3_large_100": "v3-large",
    "mobilenet_v3_small": "v3-small", "mobilenetv3small": "v3-small", "mobilenetv3_small_100": "v3-small",
    "mnasnet1_0": "mnasnet-b1", "mnasnet_100": "mnasnet-b1", "mnasnet_b1": "mnasnet-b1",
    "efficientnet_b0": "efficientnet-b0", "efficientnetb0": "efficientnet-b0",
    "mobilenetv4_conv_small": "v4-conv-small", "mobilenetv4_conv_medium": "v4-conv-medium",
    "mobilenetv4_conv_large": "v4-conv-large", "mobilenetv4_hybrid_medium": "v4-hybrid-medium",
    "mobilenetv4_hybrid_large": "v4-hybrid-large",
    "lraspp_mobilenet_v3_large": "lraspp-v3-large", "deeplabv3_mobilenet_v3_large": "deeplabv3-v3-large",
    "ssdlite320_mobilenet_v3_large": "ssdlite-v3-large",
}


MAX_TABLE_BYTES = 4 * 2**20  # a table is text a person can read; anything larger is not one
_LOADING: set = set()  # tables being read: a backbone chain that comes back to one of them is a cycle


@lru_cache(maxsize=64)
def _load(path: str, mtime: float, custom: tuple = ()) -> Table:
    if path in _LOADING:
        raise TableError(f"{Path(path).name}: its backbone chain comes back to it (a cycle)")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_TABLE_BYTES + 1)
        if len(raw) > MAX_TABLE_BYTES:
            raise TableError(f"{Path(path).name}: larger than {MAX_TABLE_BYTES // 2**20} MiB: not a table")
        text = raw.decode("utf-8-sig")  # a BOM (what spreadsheets write) is not part of the table
    except (OSError, UnicodeDecodeError) as e:
        raise TableError(f"{Path(path).name}: cannot read: {e}") from None
    _LOADING.add(path)
    try:
        return parse_table(text, path, custom)
    finally:
        _LOADING.discard(path)


def parse_table(text: str, path: str = "<table>", custom: tuple = ()) -> Table:
    """Parse and validate a table's text. Every problem found is reported, one line each."""
    text = text[1:] if text.startswith("\ufeff") else text
    where = Path(path).name
    meta, body_lines, first_body_line = _split(text, where)
    problems: list[str] = []

    def meta1(key, default=""):
        return meta.get(key, [default])[0]

    head = _metadata(meta, path, where, problems)
    backbone, output_stride = head["backbone"], head["output_stride"]
    if first_body_line is None:
        raise TableError(f"{where}: no header row and no rows")
    header, records = _records(body_lines, first_body_line, where)
    _check_header(header, where, problems)
    rows = list(_backbone_rows(backbone, meta1("backbone-end"), where, problems)) if backbone else []
    graph = _read_rows(records, header, rows, head, where, problems, custom)
    if not backbone and meta1("backbone-end"):
        rows = _own_backbone(rows, meta1("backbone-end"), where, problems)
    if not any(row.part == "head" for row in rows) and not problems:
        problems.append(f"{where}: the table has no rows")
    if meta1("reduced-tail") or not backbone:
        tail = _reduced_tail(meta1("reduced-tail"), rows, where, problems)
    else:  # the backbone's, for the rows the head keeps
        kept = {row.stage for row in rows}
        tail = tuple(pair for pair in backbone.reduced_tail if pair[0] in kept)
    if problems:
        raise TableError("\n".join(problems))
    chain = [row for row in rows if row.part == "backbone"] or rows
    total_stride = graph.max_stride(chain)
    name = Path(path).stem
    return Table(
        name=meta1("name", name), title=meta1("title", name), family=head["family"], resolution=head["resolution"],
        rows=tuple(rows), channels=head["channels"], source=meta1("source"), ref=meta1("ref") or meta1("source")[:40],
        errata=tuple(meta.get("erratum", [])), notes=tuple(meta.get("note", [])), path=path,
        meta={k: v for k, v in meta.items()}, backbone=backbone.name if backbone else "", output_stride=output_stride,
        reduced_tail=tail, classes=head["classes"], params=head["params"],
        total_stride=min(total_stride, output_stride) if output_stride else total_stride,
    )


def _split(text: str, where: str):
    """A table's text -> (its ``# key: value`` metadata, its body's lines, the body's first line number)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.isprintable() and any(ord(ch) < 32 and ch != "\t" or 127 <= ord(ch) < 160 for ch in line):
            raise TableError(f"{where}, line {number}: a control character, which a table never holds")
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
    return meta, body_lines, first_body_line


def _metadata(meta: dict, path: str, where: str, problems: list) -> dict:
    """The metadata a table's rows and its Table need, checked: a head table inherits its backbone's."""

    def meta1(key, default=""):
        return meta.get(key, [default])[0]

    def meta_int(key, default):
        text = meta1(key, "" if default is None else str(default))
        if text == "" and default is None:
            return None
        if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_VALUE:
            return int(text)
        problems.append(f"{where}: metadata '{key}' must be a positive integer, got {text!r}")
        return default

    backbone = _backbone(meta1("backbone"), path, where, problems) if meta1("backbone") else None
    family = meta1("family") or (backbone.family if backbone else "")
    if family not in FAMILIES:
        problems.append(f"{where}: metadata 'family' must be one of {', '.join(FAMILIES)}, got {family!r}")
    elif backbone and family != backbone.family:
        problems.append(f"{where}: metadata 'family' is {family!r} but the backbone {backbone.name!r} is {backbone.family!r}")
    head = dict(backbone=backbone, family=family,
                resolution=meta_int("resolution", backbone.resolution if backbone else 224),
                channels=meta_int("channels", backbone.channels if backbone else 3),
                classes=meta_int("classes", None), output_stride=meta_int("output-stride", None),
                params=_params(meta.get("param", []), where, problems))
    if head["output_stride"] is not None and not backbone:
        problems.append(f"{where}: metadata 'output-stride' is for a head table (one with '# backbone:')")
    return head


def _records(body_lines: list, first_body_line: int, where: str):
    """The header's columns, and each record as (physical line where it starts, its fields)."""
    reader = csv.reader(io.StringIO("\n".join(body_lines)))
    records = []
    try:
        header = [h.strip() for h in next(reader, [])]
        end = reader.line_num
        for fields in reader:
            start, end = end + 1, reader.line_num
            while start < end and not body_lines[start - 1].strip():
                start += 1  # blank lines before the record
            if fields:
                records.append((first_body_line + start - 1, fields))
    except csv.Error as e:
        raise TableError(f"{where}, line {first_body_line + reader.line_num - 1}: {e}") from None
    return header, records


def _check_header(header: list, where: str, problems: list):
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if repeated:
        problems.append(f"{where}: column(s) {', '.join(repeated)} appear more than once in the header")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise TableError(f"{where}: missing column(s) {', '.join(missing)} (header: {','.join(header)})")
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        problems.append(f"{where}: unknown column(s) {', '.join(unknown)}")


def _read_rows(records, header, rows: list, head: dict, where: str, problems: list, custom=()) -> "_Graph":
    """Parse the records into ``rows`` (after the backbone's rows it holds), checking what each reads
    against the graph of the rows above it; return that graph."""
    graph = _Graph(head["channels"])
    least = 0  # layers the rows read so far expand to, at least: refused before the rows are expanded
    for row in rows:
        graph.add(row)
        least += row.n * row_type(row.op).least
    stages = {row.stage: 0 for row in rows}
    symbols = SYMBOLS + tuple(name for name, _ in head["params"])
    width = graph.width  # the running width at paper scale, to check explicit residuals
    for line, fields in records:
        if len(fields) > len(header):
            problems.append(f"{where}, line {line}: {len(fields)} fields, more than the header's {len(header)} columns")
            width = None
            continue
        raw = {key: v.strip() for key, v in zip(header, fields)}
        if not any(raw.values()):
            continue
        row = _parse_row(raw, where, line, problems, symbols, custom)
        if row is None:
            width = None
            continue
        if row.stage in stages:
            first = f"at line {stages[row.stage]}" if stages[row.stage] else f"in the backbone {head['backbone'].name}"
            problems.append(f"{where}, line {line}, column stage: duplicate stage name (first {first}), got {row.stage!r}")
        stages.setdefault(row.stage, line)
        for ref in row.inputs + ((row.size,) if row.size else ()):
            problem = graph.check(ref)
            if problem:
                problems.append(f"{where}, line {line}, column {'size' if ref == row.size else 'from'}: {problem}, got {ref!r}")
        if row.inputs:
            width = graph.width_of(row.inputs[0])
        if row.residual and width is not None and (row.stride != 1 or width != row.out):
            problems.append(f"{where}, line {line}, column residual: a residual needs stride 1 and equal input and "
                            f"output widths, got stride {row.stride} and widths {width} -> {row.out}")
        least += row.n * row_type(row.op).least
        if least > MAX_LAYERS:
            raise TableError("\n".join(problems + [
                f"{where}, line {line}: the rows so far expand to more than {MAX_LAYERS:,} layers (repeats x each "
                "row type's layers); mnetcost costs networks up to that size"]))
        graph.add(row)
        width = graph.width
        rows.append(row)
    return graph


class _Graph:
    """What a table's rows name, as they are read: for each stage, block and layer, its width at paper
    scale (None where it depends on the configuration) and its stride, to check references early. What
    a row names and where its stride sits are its row type's (rows.py): the names expansion gives."""

    def __init__(self, channels: int):
        self.names = {"input": (channels, 1)}
        self.width, self.stride = channels, 1

    def add(self, row: Row):
        kind = row_type(row.op)
        sources = [self.names.get(ref, (None, 1)) for ref in row.inputs] or [(self.width, self.stride)]
        width, stride = kind.sketch(row, sources, self.names)
        early = kind.early(row)
        for i in range(row.n):
            block = row.stage if row.n == 1 else f"{row.stage}.{i + 1}"
            for suffix in kind.suffixes:
                self.names[f"{block}.{suffix}"] = (None, stride if suffix in early else stride * row.stride ** (i == 0))
            stride *= row.stride if i == 0 else 1
            self.names[block] = (width, stride)
        self.names[row.stage] = (width, stride)
        self.width, self.stride = width, stride

    def check(self, ref: str) -> str:
        if ref in self.names:
            return ""
        if ref.partition(".")[0] in self.names:
            return "names no layer of an earlier row (a block is stage.N, a layer block.expand, .dw, .se, .project, .add, .pw)"
        return "names no earlier stage, block or layer (a row reads only rows above it: no cycles)"

    def width_of(self, ref: str):
        return self.names.get(ref, (None, 1))[0]

    def max_stride(self, rows) -> int:
        stages = {row.stage for row in rows}
        return max([1] + [s for name, (_, s) in self.names.items() if name.partition(".")[0] in stages])


def _params(texts, where: str, problems: list) -> tuple:
    """'f=128' lines -> (('f', 128),): a width a row's ``out`` can name, set per configuration."""
    pairs = []
    for text in texts:
        name, sep, value = (t.strip() for t in text.partition("="))
        name = name.lower()
        if (not sep or not name.isidentifier() or name in SYMBOLS or not (value.isascii() and value.isdigit())
                or not 0 < int(value) <= MAX_VALUE):
            problems.append(f"{where}: metadata 'param' must be NAME=WIDTH with a new name and a positive width, got {text!r}")
        else:
            pairs.append((name, int(value)))
    return tuple(pairs)


def _backbone(text: str, path: str, where: str, problems: list) -> Table | None:
    """The table a head table builds on: a shipped name, or a CSV path relative to the head table."""
    candidate = Path(path).parent / text
    try:
        return load_table(str(candidate) if text.endswith(".csv") and candidate.is_file() else text)
    except (UnknownModel, TableError) as e:
        problems.append(f"{where}: metadata 'backbone': {str(e).splitlines()[0]}")
        return None


def _own_backbone(rows: list, end: str, where: str, problems: list) -> list:
    """A table without '# backbone:' whose 'backbone-end' names one of its own stages: the rows up to it are its
    backbone part (the total stride, and so the smallest input, is theirs; the rows after are its head)."""
    stages = [row.stage for row in rows]
    if end not in stages:
        problems.append(f"{where}: metadata 'backbone-end' must name a stage of this table, got {end!r}")
        return rows
    cut = stages.index(end) + 1
    return [dataclasses.replace(row, part="backbone") for row in rows[:cut]] + rows[cut:]


def _backbone_rows(backbone: Table, end: str, where: str, problems: list):
    """The backbone's rows a head keeps, up to ``end`` (default: the row before the classifier top)."""
    if backbone.backbone:
        problems.append(f"{where}: metadata 'backbone': {backbone.name!r} is itself a head table")
        return ()
    rows = backbone.rows
    if end:
        stages = [row.stage for row in rows]
        if end not in stages:
            problems.append(f"{where}: metadata 'backbone-end' must name a stage of {backbone.name}, got {end!r}")
            return ()
        rows = rows[: stages.index(end) + 1]
    else:
        pools = [i for i, row in enumerate(rows) if row.op == "pool"]
        rows = rows[: pools[-1]] if pools else rows
    return tuple(dataclasses.replace(row, part="backbone") for row in rows)


def _reduced_tail(text: str, rows, where: str, problems: list) -> tuple:
    """'bneck13 out; bneck14 exp out' -> (('bneck13', 'out'), ('bneck14', 'exp'), ('bneck14', 'out'))."""
    by_stage = {row.stage: row for row in rows}
    pairs = []
    for item in filter(None, (t.strip() for t in text.split(";"))):
        stage, *fields = item.split()
        row = by_stage.get(stage)
        if row is None or not fields:
            problems.append(f"{where}: metadata 'reduced-tail': {item!r} must be a stage of the table followed by out and/or exp")
            continue
        for f in fields:
            if f not in TAIL_FIELDS or (f == "exp" and row.op != "bneck") or (f == "out" and not row.out):
                problems.append(f"{where}: metadata 'reduced-tail': stage {stage!r} has no width {f!r} to halve")
            else:
                pairs.append((stage, f))
    return tuple(pairs)


class _Cells:
    """One record's cells as they are read; each problem is one line naming the file, line and column."""

    def __init__(self, raw: dict, where: str, line: int, problems: list):
        self.raw, self.where, self.line, self.problems = raw, where, line, problems

    def get(self, col: str) -> str:
        return self.raw.get(col, "")

    def bad(self, col: str, msg: str):
        self.problems.append(f"{self.where}, line {self.line}, column {col}: {msg}, got {self.raw.get(col, '')!r}")

    def pos_int(self, col: str, default=None, allow_blank=False):
        text = self.get(col)
        if text == "":
            if allow_blank or default is not None:
                return default
            self.bad(col, "must be a positive integer")
            return None
        try:
            value = float(text)
        except ValueError:
            self.bad(col, "must be a positive integer")
            return None
        if not math.isfinite(value) or value != int(value) or value <= 0:
            self.bad(col, "must be a positive integer")
            return None
        if value > MAX_VALUE:
            self.bad(col, f"must be at most {MAX_VALUE}")
            return None
        return int(value)


def _rows_of(ops) -> str:
    """('bneck', 'fused', 'uib') -> 'a bneck, fused or uib row'."""
    return f"a {', '.join(ops[:-1])} or {ops[-1]} row" if len(ops) > 1 else f"a {ops[0]} row"


# What an op-specific column says when a row whose type does not take it gives it.
ONLY_FOR = {
    "start": f"a start depthwise kernel is only for {_rows_of(taking('start'))}",
    "dilation": "a dilation is only for a convolution",
    "args": "op arguments are only for a conv, mqa, upsample or gridpool row or an op registered with mnetcost.register_op",
    "t": f"an expansion factor is only for {_rows_of(taking('t'))}",
    "exp": f"an expansion width is only for {_rows_of(taking('exp'))}",
    "se": f"squeeze-excite is only for {_rows_of(taking('se'))}",
    "bias": f"an explicit bias is only for {_rows_of(taking('bias'))}",
    "residual": f"a residual connection is only for {_rows_of(taking('residual'))}",
    "layer_scale": f"a layer scale is only for {_rows_of(taking('layer_scale'))}",
}


def _parse_row(raw: dict, where: str, line: int, problems: list[str], symbols=SYMBOLS, custom=()) -> Row | None:
    """One record -> a Row, or None with its problems added. What the op's row takes is its row type's."""
    cells, n_before = _Cells(raw, where, line, problems), len(problems)
    op = raw.get("op", "")
    if op not in ROW_OPS and op not in custom:
        cells.bad("op", f"unknown op (allowed: {', '.join(ROW_OPS + tuple(custom))})")
        return None
    kind = row_type(op)
    fields = _sizes(cells, kind)
    fields.update(_out(cells, kind, symbols))
    fields.update(_wiring(cells, kind, fields["dilation"]))
    if fields["width"] not in ROLES:
        cells.bad("width", f"unknown width role (allowed: {', '.join(ROLES)})")
    fields.update(_expansion(cells, kind))
    kind.check(fields, cells.bad, len(problems) == n_before)
    stage = raw.get("stage", "")
    if not stage.isprintable():
        cells.bad("stage", "a stage name is one line of printable text")
    elif "." in stage or "," in stage:
        cells.bad("stage", "a stage name cannot contain '.' or ',' (repeated blocks are named stage.1, stage.2, ...)")
    if stage == "input":
        cells.bad("stage", "'input' names the network's input")
    fields.update(_flags(cells, kind))
    n = fields["n"]
    if n is not None and n > 1 and not kind.repeats:
        cells.bad("n", f"a {op} row cannot repeat")
    if n is not None and n > MAX_REPEATS:
        cells.bad("n", f"at most {MAX_REPEATS} repeats")
    if len(problems) != n_before:
        return None
    return Row(stage=stage or f"row{line}", op=op, **fields, input=raw.get("input", ""),
               operator=raw.get("operator", ""), source=raw.get("source", ""), line=line)


def _sizes(cells: _Cells, kind) -> dict:
    """kernel, start, stride, n and dilation: positive integers (a kernel and a start as the row type takes them)."""
    kernel = cells.pos_int("kernel", default=kind.kernel, allow_blank=kind.kernel_optional)
    start = cells.pos_int("start", allow_blank=True)
    if start is not None and "start" not in kind.columns:
        cells.bad("start", ONLY_FOR["start"])
    return dict(kernel=kernel, start=start, stride=cells.pos_int("stride", default=1), n=cells.pos_int("n", default=1),
                dilation=cells.pos_int("dilation", default=1))


def _out(cells: _Cells, kind, symbols) -> dict:
    """out, its symbolic form (expr) and the width role (a symbolic out's is classes), as the row type takes them."""
    width = cells.get("width") or "block"
    out_text = cells.get("out")
    out, expr = None, ()
    if kind.out == "input":
        if out_text:
            cells.bad("out", f"a {kind.op} row keeps its input width; leave out blank")
    elif out_text == "" and kind.out == "either":
        pass  # a user's op that keeps its input width
    elif "*" in out_text or out_text.lower() in symbols:
        expr = tuple(t.strip().lower() for t in out_text.split("*"))
        if kind.out != "symbols" or not all(t in symbols or (t.isascii() and t.isdigit() and int(t) > 0) for t in expr):
            cells.bad("out", "a width with symbols is a product of whole numbers, k (classes), a and a1 (anchors) and "
                             "the table's params, on an fc or conv row, e.g. k or a*k")
            expr = ()
        width, out = "classes", 0
    else:
        out = cells.pos_int("out")
    return dict(out=out, expr=expr, width=width)


def _wiring(cells: _Cells, kind, dilation) -> dict:
    """What the row reads (from, size), when it exists, its dilation's place and its op arguments."""
    inputs = tuple(filter(None, (t.strip() for t in cells.get("from").split(","))))
    size = cells.get("size")
    kind.check_reads(inputs, cells.bad)
    if (kind.op == "upsample") != bool(size):
        cells.bad("size", "an upsample row (and only it) names the tensor whose size it takes, or input")
    when = cells.get("when")
    if when and when not in SWITCHES:
        cells.bad("when", f"unknown switch (allowed: {', '.join(SWITCHES)})")
    if dilation != 1 and "dilation" not in kind.columns:  # a bad dilation (None) too, as before
        cells.bad("dilation", ONLY_FOR["dilation"])
    args = _parse_args(cells.get("args"), cells.bad) if cells.get("args") else ()
    if args and "args" not in kind.columns:
        cells.bad("args", ONLY_FOR["args"])
    return dict(inputs=inputs, size=size, when=when, args=args)


def _expansion(cells: _Cells, kind) -> dict:
    """t (a factor) and exp (a width), on a row type with an expansion."""
    t = exp = None
    if cells.get("t"):
        if "t" not in kind.columns:
            cells.bad("t", ONLY_FOR["t"])
        else:
            try:
                t = float(cells.get("t"))
                if not math.isfinite(t) or t <= 0 or t > MAX_EXPANSION:
                    raise ValueError
            except ValueError:
                t = None
                cells.bad("t", f"must be a number > 0 and at most {MAX_EXPANSION}")
    if cells.get("exp"):
        if "exp" not in kind.columns:
            cells.bad("exp", ONLY_FOR["exp"])
        else:
            exp = cells.pos_int("exp")
    return dict(t=t, exp=exp)


def _flags(cells: _Cells, kind) -> dict:
    """The 1/0 columns (se, bn, residual, bias, layer_scale) and the activation, as the row type takes them."""
    flags = {}
    for col, default in (("se", False), ("bn", kind.bn), ("residual", None), ("bias", None), ("layer_scale", False)):
        text = cells.get(col)
        if text in ("", "-"):
            flags[col] = default
        elif text in ("1", "0"):
            flags[col] = text == "1"
        else:
            cells.bad(col, "must be 1, 0 or blank")
    for col, given in (("se", flags.get("se")), ("bias", flags.get("bias") is not None),
                       ("residual", flags.get("residual") is not None), ("layer_scale", flags.get("layer_scale"))):
        if given and col not in kind.columns:
            cells.bad(col, ONLY_FOR[col])
    nl = cells.get("nl")
    if nl not in ACTIVATIONS:
        cells.bad("nl", f"unknown activation (allowed: {', '.join(a for a in ACTIVATIONS if a)})")
    return dict(flags, nl=nl)


def _parse_args(text: str, bad) -> tuple:
    """'heads=4; kv_stride=2' -> (('heads', 4), ('kv_stride', 2)): whole or real numbers."""
    pairs = []
    for item in filter(None, (t.strip() for t in text.split(";"))):
        key, sep, value = (t.strip() for t in item.partition("="))
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not key.isidentifier() or not math.isfinite(number) or abs(number) > MAX_VALUE:
            bad("args", "op arguments are name=number pairs separated by ';'")
            return ()
        pairs.append((key, int(number) if number == int(number) else number))
    return tuple(pairs)
