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
from .vocab import ACTIVATIONS, MAX_VALUE, OUT_OF_PLACE, ROW_OPS  # noqa: F401 (re-exported)

FAMILIES = ("v1", "v2", "v3", "mnasnet", "efficientnet", "v4")
BLOCK_OPS = ("bneck", "fused", "uib", "mqa")  # rows that expand into several layers, with a residual
EXPANDING_OPS = ("bneck", "fused", "uib")  # rows with an expansion (t or exp)
LAYER_SCALE_OPS = ("fused", "uib", "mqa")  # rows whose output may pass a layer scale
MQA_ARGS = {"heads": None, "key_dim": None, "value_dim": "key_dim", "kv_stride": 1}  # name -> default
MERGE_OPS = ("concat", "add", "mul")  # rows that read two or more tensors
SHAPE_OPS = ("dw", "pool", "upsample") + MERGE_OPS  # rows whose width follows their input(s)
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
    name = ALIASES.get(text.lower().replace("-", "_"), text.lower())  # shipped names are lower case
    shipped = tables_dir() / f"{name}.csv"
    looks_like_path = text.endswith(".csv") or "/" in text or "\\" in text
    if not looks_like_path and name not in NOT_MODELS and _is_file(shipped):
        return _load(str(shipped), 0.0, custom)
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
    """Parse and validate a table's text. Every problem found is reported, one line each. ``custom``: the
    names of the ops a user registered that its rows may name."""
    text = text[1:] if text.startswith("\ufeff") else text
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.isprintable() and any(ord(ch) < 32 and ch != "\t" or 127 <= ord(ch) < 160 for ch in line):
            raise TableError(f"{Path(path).name}, line {number}: a control character, which a table never holds")
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
    resolution = meta_int("resolution", backbone.resolution if backbone else 224)
    channels = meta_int("channels", backbone.channels if backbone else 3)
    classes = meta_int("classes", None)
    output_stride = meta_int("output-stride", None)
    params = _params(meta.get("param", []), where, problems)
    if output_stride is not None and not backbone:
        problems.append(f"{where}: metadata 'output-stride' is for a head table (one with '# backbone:')")
    if first_body_line is None:
        raise TableError(f"{where}: no header row and no rows")
    reader = csv.reader(io.StringIO("\n".join(body_lines)))
    records = []  # (physical line where the record starts, its fields)
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
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if repeated:
        problems.append(f"{where}: column(s) {', '.join(repeated)} appear more than once in the header")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise TableError(f"{where}: missing column(s) {', '.join(missing)} (header: {','.join(header)})")
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        problems.append(f"{where}: unknown column(s) {', '.join(unknown)}")

    rows = list(_backbone_rows(backbone, meta1("backbone-end"), where, problems)) if backbone else []
    graph = _Graph(channels)
    for row in rows:
        graph.add(row)
    stages = {row.stage: 0 for row in rows}
    width = graph.width  # the running width at paper scale, to check explicit residuals
    for line, fields in records:
        if len(fields) > len(header):
            problems.append(f"{where}, line {line}: {len(fields)} fields, more than the header's {len(header)} columns")
            width = None
            continue
        raw = {key: v.strip() for key, v in zip(header, fields)}
        if not any(raw.values()):
            continue
        row = _parse_row(raw, where, line, problems, SYMBOLS + tuple(name for name, _ in params), custom)
        if row is None:
            width = None
            continue
        if row.stage in stages:
            first = f"at line {stages[row.stage]}" if stages[row.stage] else f"in the backbone {backbone.name}"
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
        graph.add(row)
        width = graph.width
        rows.append(row)
    if not any(row.part == "head" for row in rows) and not problems:
        problems.append(f"{where}: the table has no rows")
    if meta1("reduced-tail") or not backbone:
        tail = _reduced_tail(meta1("reduced-tail"), rows, where, problems)
    else:  # the backbone's, for the rows the head keeps
        kept = {row.stage for row in rows}
        tail = tuple(pair for pair in backbone.reduced_tail if pair[0] in kept)
    if problems:
        raise TableError("\n".join(problems))
    chain = [row for row in rows if row.part == "backbone"] if backbone else rows
    total_stride = graph.max_stride(chain)
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
        backbone=backbone.name if backbone else "",
        output_stride=output_stride,
        reduced_tail=tail,
        classes=classes,
        params=params,
        total_stride=min(total_stride, output_stride) if output_stride else total_stride,
    )


# The layers a row's name can be followed by in a reference (``bneck13.expand``), per row op.
LAYER_SUFFIXES = {"dwsep": ("dw", "pw"), "bneck": ("expand", "dw", "se", "project", "add"),
                  "fused": ("expand", "project", "scale", "add"),
                  "uib": ("start", "expand", "dw", "project", "scale", "add"),
                  "mqa": ("norm", "query", "key_down", "key", "value_down", "value", "attn", "output", "scale", "add")}


def before_stride(row: Row) -> tuple:
    """The layers of a block row that run before its stride (at its input's resolution)."""
    if row.op == "bneck":
        return ("expand",)
    if row.op == "uib":
        return ("start", "expand") if row.kernel else ("expand",) if not row.start else ()
    if row.op == "mqa":
        return ("norm", "query", "key_down", "value_down")
    return ()


class _Graph:
    """What a table's rows name, as they are read: for each stage, block and layer, its width at paper
    scale (None where it depends on the configuration) and its stride, to check references early."""

    def __init__(self, channels: int):
        self.names = {"input": (channels, 1)}
        self.width, self.stride = channels, 1

    def add(self, row: Row):
        sources = [self.names.get(ref, (None, 1)) for ref in row.inputs] or [(self.width, self.stride)]
        width, stride = sources[0][0], max(s for _, s in sources)
        if row.op == "concat":
            width = None if any(w is None for w, _ in sources) else sum(w for w, _ in sources)
        elif row.op == "upsample":
            stride = self.names.get(row.size, (None, 1))[1]
        elif row.op not in SHAPE_OPS and (row.out or row.width == "classes"):
            width = row.out or None  # classes rows: known only at expansion
        for i in range(row.n):
            block = row.stage if row.n == 1 else f"{row.stage}.{i + 1}"
            for suffix in LAYER_SUFFIXES.get(row.op, ()):
                early = suffix in before_stride(row)
                self.names[f"{block}.{suffix}"] = (None, stride if early else stride * row.stride ** (i == 0))
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


def _parse_row(raw: dict, where: str, line: int, problems: list[str], symbols=SYMBOLS, custom=()) -> Row | None:
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
    if op not in ROW_OPS and op not in custom:
        bad("op", f"unknown op (allowed: {', '.join(ROW_OPS + tuple(custom))})")
        return None
    kernel = pos_int("kernel", default=1 if op in ("fc", "pool", "upsample") + MERGE_OPS or op in custom else None,
                     allow_blank=op in ("uib", "mqa"))
    start = pos_int("start", allow_blank=True)
    if start is not None and op != "uib":
        bad("start", "a start depthwise kernel is only for a uib row")
    stride = pos_int("stride", default=1)
    n = pos_int("n", default=1)
    dilation = pos_int("dilation", default=1)
    width = raw.get("width", "") or "block"
    out_text = raw.get("out", "")
    out, expr = None, ()
    if op in SHAPE_OPS:
        if out_text:
            bad("out", f"a {op} row keeps its input width; leave out blank")
    elif out_text == "" and op in custom:
        pass  # a user's op that keeps its input width
    elif "*" in out_text or out_text.lower() in symbols:
        expr = tuple(t.strip().lower() for t in out_text.split("*"))
        if op not in ("fc", "conv") or not all(t in symbols or (t.isascii() and t.isdigit() and int(t) > 0) for t in expr):
            bad("out", "a width with symbols is a product of whole numbers, k (classes), a and a1 (anchors) and the "
                       "table's params, on an fc or conv row, e.g. k or a*k")
            expr = ()
        width, out = "classes", 0
    else:
        out = pos_int("out")
    inputs = tuple(filter(None, (t.strip() for t in raw.get("from", "").split(","))))
    size = raw.get("size", "")
    if op in MERGE_OPS and len(inputs) < 2:
        bad("from", f"a {op} row reads two or more tensors, e.g. \"a,b\"")
    elif op not in MERGE_OPS and len(inputs) > 1:
        bad("from", f"a {op} row reads one tensor")
    if op == "mul" and len(inputs) > 2:
        bad("from", "a mul row multiplies two tensors")
    if (op == "upsample") != bool(size):
        bad("size", "an upsample row (and only it) names the tensor whose size it takes, or input")
    when = raw.get("when", "")
    if when and when not in SWITCHES:
        bad("when", f"unknown switch (allowed: {', '.join(SWITCHES)})")
    if dilation != 1 and op not in ("conv", "dw", "dwsep", "bneck"):
        bad("dilation", "a dilation is only for a convolution")
    args = _parse_args(raw.get("args", ""), bad) if raw.get("args", "") else ()
    if args and op not in custom and op != "mqa":
        bad("args", "op arguments are only for an mqa row or an op registered with mnetcost.register_op")
    if op == "mqa" and len(problems) == n_before:
        args = _mqa_args(dict(args), kernel, bad)
    if width not in ROLES:
        bad("width", f"unknown width role (allowed: {', '.join(ROLES)})")
    t = exp = None
    if raw.get("t", ""):
        if op not in EXPANDING_OPS:
            bad("t", f"an expansion factor is only for {_rows_of(EXPANDING_OPS)}")
        else:
            try:
                t = float(raw["t"])
                if not math.isfinite(t) or t <= 0 or t > MAX_EXPANSION:
                    raise ValueError
            except ValueError:
                t = None
                bad("t", f"must be a number > 0 and at most {MAX_EXPANSION}")
    if raw.get("exp", ""):
        if op not in EXPANDING_OPS:
            bad("exp", f"an expansion width is only for {_rows_of(EXPANDING_OPS)}")
        else:
            exp = pos_int("exp")
    if op in EXPANDING_OPS and t is None and exp is None and len(problems) == n_before:
        bad("t", f"a {op} row needs an expansion: t (factor) or exp (width)")
    if op in EXPANDING_OPS and t is not None and exp is not None:
        bad("exp", "give t or exp, not both")
    if op == "uib" and stride is not None and stride > 1 and kernel is None and start is None:
        bad("stride", "a strided uib row needs a depthwise conv (start or kernel) to carry the stride")
    if op == "mqa" and stride != 1:
        bad("stride", "an mqa row keeps its input's size (its keys and values are downsampled by kv_stride)")
    stage = raw.get("stage", "")
    if not stage.isprintable():
        bad("stage", "a stage name is one line of printable text")
    elif "." in stage or "," in stage:
        bad("stage", "a stage name cannot contain '.' or ',' (repeated blocks are named stage.1, stage.2, ...)")
    if stage == "input":
        bad("stage", "'input' names the network's input")
    flags = {}
    for col, default in (("se", False), ("bn", op in ("conv", "dw", "dwsep") + BLOCK_OPS), ("residual", None),
                         ("bias", None), ("layer_scale", False)):
        text = raw.get(col, "")
        if text in ("", "-"):
            flags[col] = default
        elif text in ("1", "0"):
            flags[col] = text == "1"
        else:
            bad(col, "must be 1, 0 or blank")
    if flags.get("se") and op != "bneck":
        bad("se", "squeeze-excite is only for a bneck row")
    if flags.get("bias") is not None and op not in ("conv", "dw", "fc"):
        bad("bias", "an explicit bias is only for a conv, dw or fc row")
    if flags.get("residual") is not None and op not in BLOCK_OPS:
        bad("residual", f"a residual connection is only for {_rows_of(BLOCK_OPS)}")
    if flags.get("layer_scale") and op not in LAYER_SCALE_OPS:
        bad("layer_scale", f"a layer scale is only for {_rows_of(LAYER_SCALE_OPS)}")
    nl = raw.get("nl", "")
    if nl not in ACTIVATIONS:
        bad("nl", f"unknown activation (allowed: {', '.join(a for a in ACTIVATIONS if a)})")
    if n is not None and n > 1 and op in ("pool", "fc", "upsample") + MERGE_OPS:
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
        start=start,
        layer_scale=flags["layer_scale"],
        bias=flags["bias"],
        inputs=inputs,
        size=size,
        dilation=dilation,
        when=when,
        expr=expr,
        args=args,
        input=raw.get("input", ""),
        operator=raw.get("operator", ""),
        source=raw.get("source", ""),
        line=line,
    )


def _rows_of(ops) -> str:
    """('bneck', 'fused', 'uib') -> 'a bneck, fused or uib row'."""
    return f"a {', '.join(ops[:-1])} or {ops[-1]} row" if len(ops) > 1 else f"a {ops[0]} row"


def _mqa_args(args: dict, kernel, bad) -> tuple:
    """An mqa row's attention settings, checked and completed: heads, key_dim, value_dim (default
    key_dim), kv_stride (default 1; above 1 the keys and values pass a strided depthwise conv of
    ``kernel``)."""
    unknown = set(args) - set(MQA_ARGS)
    if unknown:
        bad("args", f"an mqa row takes {', '.join(MQA_ARGS)}; unknown: {', '.join(sorted(unknown))}")
        return ()
    for name, default in MQA_ARGS.items():
        value = args.get(name, args.get(default) if isinstance(default, str) else default)
        if value is None:
            bad("args", f"an mqa row needs {name}=N")
            return ()
        if not isinstance(value, int) or value < 1:
            bad("args", f"{name} must be a positive whole number")
            return ()
        args[name] = value
    if args["heads"] * max(args["key_dim"], args["value_dim"]) > MAX_VALUE:
        bad("args", f"heads x key_dim and heads x value_dim must be at most {MAX_VALUE}")
        return ()
    if args["kv_stride"] > 1 and kernel is None:
        bad("kernel", "an mqa row with kv_stride > 1 needs the kernel of its key/value downsampling")
    return tuple((name, args[name]) for name in MQA_ARGS)


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
