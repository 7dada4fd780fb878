"""``mnetcost import``: an ONNX graph as a table of mnetcost's own schema (docs/schema.md, docs/import.md).

``onnx_graph.read`` gives the file's layers (BatchNorms and activations folded). Here each run of layers
that is one of the project's blocks becomes its block row — an inverted residual (``bneck``: optional 1×1
expansion, k×k depthwise, optional squeeze-excite, linear 1×1 projection, residual add), or in the v4 family
V4's ``uib``, ``fused`` and ``mqa`` blocks with their layer scales — so that the family's width rules apply
when the table is scaled by α; every other layer becomes its own row, with
``from`` where it reads anything but the row above. The table is then costed at the file's own size and
every layer's output shape compared with the shape ONNX's shape inference gives the same tensor: an
import that would not reproduce the file is refused, never written.

Parameters. By default a row counts what the file's operators use: a convolution with a bias has a bias
and no BatchNorm (``bn`` 0), whatever the bias came from; a tensor several nodes share is counted at each
use. With ``folded_bn``, the bias of a convolution is read as a BatchNorm torch's exporter folded into it
(``bn`` 1, no bias: under the torchvision or timm convention 2 parameters per channel, so the table
equals the framework's ``sum(p.numel())``) unless the convolution keeps a real bias by this rule: it runs
on a globally pooled map (squeeze-excite, a pooled head) or no later convolution or matrix product reads
what it computes (a classifier or a detector's predictor).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field

from .errors import TableError, UsageError
from .onnx_graph import Graph, Node, read

FAMILIES = ("v2", "v3", "efficientnet", "v4", "mnasnet", "v1")
COLUMNS = ("stage", "op", "start", "kernel", "exp", "out", "n", "stride", "se", "nl", "bn", "bias", "width",
           "residual", "layer_scale", "dilation", "from", "size", "args", "source")
WEIGHTED = ("conv", "pw", "dw", "gconv", "fc")


@dataclass
class Imported:
    """An imported table: its CSV ``text`` (metadata lines, then rows), the ``rows`` as dicts, the
    ``notes`` in its header, and ``layers``: each row's layer names -> the file's node names."""

    text: str
    rows: list
    notes: list
    family: str
    resolution: int
    layers: dict = field(default_factory=dict)


def import_onnx(path, *, folded_bn: bool = False, family: str | None = None) -> Imported:
    """The table of the ONNX file at ``path`` (``mnetcost import``); ``folded_bn``: count the biases
    torch's exporter made from BatchNorms as BatchNorms; ``family``: the width rules' family (default:
    v3 where the file has a hard swish or hard sigmoid, else v2)."""
    if family is not None and family not in FAMILIES:
        raise UsageError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    g = read(path)
    _check_outputs(g, os.path.basename(os.fspath(path)))
    fam, why = (family, "as asked (--family)") if family else _family(g)
    e = _Emitter(g, folded_bn, fam)
    e.emit()
    notes = _notes(e, fam, why, folded_bn, g)
    text = _text(e, notes, fam, g, os.fspath(path))
    result = Imported(text, e.rows, notes, fam, g.height, e.layers)
    _verify(result, e, g, os.path.basename(os.fspath(path)))
    return result


def _check_outputs(g: Graph, name: str):
    made = {n.output for n in g.nodes} | {g.image}
    for n in g.nodes:
        for i in n.inputs:
            if i not in made:
                raise TableError(f"{name}: node {n.onnx[0]!r} reads {i!r}, which no earlier node computes "
                                 "(a truncated or unsorted graph)")
        made.add(n.output)


def _family(g: Graph) -> tuple:
    acts = {n.act for n in g.nodes}
    if acts & {"HS", "HSIG"}:
        return "v3", "detected: the file has hard swish or hard sigmoid activations (MobileNetV3)"
    ops = {n.op for n in g.nodes}
    linear_dw = {n.output for n in g.nodes if n.op == "dw" and not n.act}
    if ops & {"scale", "attn"} or any(n.op == "pw" and n.act and n.inputs[0] in linear_dw for n in g.nodes):
        return "v4", ("detected: the file has layer scales, attention or a linear depthwise conv before a 1x1 "
                      "expansion (MobileNetV4's blocks)")
    if "SW" in acts:
        return "efficientnet", "detected: the file has SiLU activations (EfficientNet)"
    return "v2", "assumed: no V3 or EfficientNet signature (hard swish, hard sigmoid, SiLU); give --family otherwise"


def _text(e, notes, family, g: Graph, path) -> str:
    base = os.path.basename(path)
    stem = base[:-5] if base.endswith(".onnx") else base
    head = [f"# name: {stem}", f"# title: {stem}, imported from {base} (ONNX opset {g.opset})",
            f"# family: {family}", f"# resolution: {g.height}", f"# channels: {g.channels}"]
    if e.classes:
        head.append(f"# classes: {e.classes}")
    head.append(f"# source: {base}, read by mnetcost import")
    end = _backbone_end(e.rows, min(g.height, g.width))
    if end:
        head.append(f"# backbone-end: {end}")
    head += [f"# note: {n}" for n in notes]
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n", extrasaction="raise")
    w.writeheader()
    w.writerows({c: r.get(c, "") for c in COLUMNS} for r in e.rows)
    return "\n".join(head) + "\n" + out.getvalue()


def _backbone_end(rows: list, size: int) -> str:
    """The last row before the first whose output stride exceeds ``size`` (the rows' strides followed through their
    ``from``), or "" when none does."""
    strides, previous = {"input": 1}, "input"
    for row in rows:
        refs = row["from"].split(",") if row.get("from") else [previous]
        stride = max(strides.get(ref.partition(".")[0], 1) for ref in refs) * int(row.get("stride") or 1)
        if stride > size:
            return previous if previous != "input" else ""
        strides[row["stage"]] = stride
        previous = row["stage"]
    return ""


def _notes(e, family, why, folded_bn, g) -> list:
    roles = {}
    for r in e.rows:
        if r.get("width"):
            roles.setdefault(r["width"], []).append(r["stage"])
    fixed = ", ".join(f"{role}: {' '.join(names)}" for role, names in roles.items())
    notes = [f"family {family} ({why}): alpha scales every width by this family's rules under the chosen "
             "convention (tables/conventions.csv); which rule the original framework used for each width cannot "
             "be read from one export, so it is the family's, stated here",
             f"width roles (others: block): {fixed or 'none'}; the input channels and the classes are never scaled",
             "params: " + ("a conv bias that is a folded BatchNorm (by the rule of docs/import.md: not on a pooled "
                           "map, and a later conv or matrix product reads it) is counted as a BatchNorm (bn = 1, no "
                           "bias); other biases as biases" if folded_bn else
                           "what the file's operators use (a conv with a bias: bn = 0, its bias counted; a tensor "
                           "several nodes share counted at each use); --folded-bn reads exported BatchNorms back")]
    end = _backbone_end(e.rows, min(g.height, g.width))
    if end:
        notes.append(f"backbone-end {end}: the rows after it reach a stride beyond the file's {min(g.height, g.width)} "
                     "px input (an SSD's last extra layers, whose maps stay 1 x 1), so the rows up to it are the "
                     "table's backbone part and the smallest input is their total stride (docs/schema.md)")
    return notes + e.notes + g.notes


class _Emitter:
    """The rows of a graph's layers: block rows where a run of layers is a block, one row per other layer."""

    def __init__(self, g: Graph, folded_bn: bool, family: str):
        self.g, self.folded_bn, self.family = g, folded_bn, family
        self.by_out = {n.output: n for n in g.nodes}
        self.readers = {}
        for n in g.nodes:
            for i in n.inputs:
                self.readers.setdefault(i, []).append(n)
        self.refs = {g.image: "input"}
        self.rows, self.notes, self.layers, self.classes = [], [], {}, None
        self.pooled, self.later = _pooled(g.nodes), _weighted_later(g.nodes, self.readers)
        self.done = set()

    def fx(self, n: Node) -> tuple:
        """(bn, bias) a conv row takes for ``n``: a folded BatchNorm's bias read back under ``folded_bn``."""
        if n.bn:
            return True, n.bias
        pooled = n.inputs[0] in self.pooled and self.family != "v4"  # V4 (timm): its pooled head conv has a BatchNorm
        if self.folded_bn and n.bias and n.op in ("conv", "pw", "dw", "gconv") and not pooled and self.later.get(n.output):
            return True, False
        return False, n.bias

    def emit(self):
        first = {}
        finders = V4_BLOCKS if self.family == "v4" else {"dw": _bneck}
        for n in self.g.nodes:
            block = finders[n.op](self, n) if n.op in finders and id(n) not in self.done else None
            if block is not None:
                first[id(block["members"][0])] = block
                self.done.update(id(m) for m in block["members"])
        for n in self.g.nodes:
            if id(n) in first:
                block = first[id(n)]
                _v4_row(self, block) if block.get("kind") else self.block_row(block)
            elif id(n) not in self.done:
                if n.op in ("scale", "attn"):
                    raise TableError(f"node {n.onnx[0]!r}: a {'layer scale' if n.op == 'scale' else 'attention'} "
                                     "outside a block mnetcost recognises (uib, fused, mqa)")
                self.node_row(n)

    def ref(self, tensor: str) -> str:
        return self.refs[tensor]

    def add_row(self, row: dict, inputs: list, layers: dict):
        stage = row["stage"]
        previous = self.rows[-1]["stage"] if self.rows else "input"
        refs = [self.ref(i) for i in inputs]
        row["n"] = 1
        row["from"] = "" if refs == [previous] else ",".join(refs)
        self.rows.append(row)
        for k, (tensor, nodes) in layers.items():
            self.layers[f"{stage}.{k}" if k else stage] = (tensor, nodes)

    def stage(self, kind: str) -> str:
        return f"{kind}{len(self.rows) + 1}"


def _source(names: list) -> str:
    """The file's node names a row stands for, as their common path (``/features/features.4``) when they have one."""
    common = os.path.commonprefix(list(names))
    common = common[:common.rfind("/")] if "/" in common else ""
    return f"ONNX {common}" if len(common) > 1 else "ONNX " + " ".join(names)


def _pooled(nodes) -> set:
    """Tensors computed from a global pooling's output by layers on that 1x1 map (squeeze-excite, heads)."""
    pooled = set()
    for n in nodes:
        if n.op == "pool" or (n.op in ("conv", "pw", "gconv", "fc", "act") and n.inputs[0] in pooled):
            pooled.add(n.output)
    return pooled


def _weighted_later(nodes, readers) -> dict:
    """tensor -> whether a conv or a matrix product reads it, directly or through layers without weights."""
    later = {}
    for n in reversed(nodes):
        later[n.output] = any(r.op in WEIGHTED or later.get(r.output) for r in readers.get(n.output, []))
    return later


KIND = {"conv": "conv", "pw": "conv", "gconv": "conv", "dw": "dw", "fc": "fc", "norm": "norm", "add": "add", "mul": "mul",
        "pool": "pool", "concat": "concat", "upsample": "up"}


def _role(em: _Emitter, n: Node, row: dict) -> str:
    """A weighted layer's width role: stem (reads the image), last (the conv a pooled classifier reads), head
    (a hidden fully connected layer), classes (the final one), fixed (a final conv: a segmentation or
    detection predictor; or a width no multiple-of-8 rule keeps at alpha 1)."""
    final = not em.later.get(n.output)
    if n.op == "fc" and final and em.classes is None and len([m for m in em.g.nodes if m.op == "fc"]) > 0 \
            and n.output in em.g.outputs:
        em.classes, row["out"] = n.cout, "k"
        return "classes"
    if final:
        return "fixed"
    if n.inputs[0] == em.g.image:
        role = "stem"
    elif n.op == "fc" or n.inputs[0] in em.pooled:
        role = "head"
    else:
        pools = em.readers.get(n.output, [])
        role = "last" if len(pools) == 1 and pools[0].op == "pool" and em.later.get(pools[0].output) else ""
    if n.cout % 8:
        em.notes.append(f"{row['stage']}: {n.cout} channels, not a multiple of 8: kept fixed (the families' rules "
                        "would round it even at alpha 1)")
        return "fixed"
    return role


def _node_row(em: _Emitter, n: Node):
    if n.op == "act":  # an activation no layer before it can carry: no mult-adds, no weights
        em.notes.append(f"{' '.join(n.onnx)}: an activation ({n.act}) after a layer that cannot carry one; "
                        "no mult-adds and no weights, so it is not a row")
        em.refs[n.output] = em.ref(n.inputs[0])
        return
    stage = em.stage(KIND[n.op])
    row = {"stage": stage, "op": KIND[n.op].replace("up", "upsample"), "stride": n.s, "nl": n.act,
           "source": _source(n.onnx)}
    if n.op in WEIGHTED:
        bn, bias = em.fx(n)
        row.update(kernel=n.k, bn=int(bn), bias=int(bias))
        if n.dil > 1:
            row["dilation"] = n.dil
        if n.op != "dw":
            row["out"] = n.cout
            row["width"] = _role(em, n, row)
        if n.op == "gconv":
            row["args"] = f"groups={n.args['groups']}"
            em.notes.append(f"{stage}: {n.args['groups']} groups, kept under alpha (its scaled widths must divide by it)")
    elif n.op == "upsample":
        row["size"] = em.ref(n.size)
        if n.nearest:
            row["args"] = "nearest=1"
    em.refs[n.output] = stage
    em.add_row(row, n.inputs, {"": (n.output, n.onnx)})


_Emitter.node_row = _node_row


def _only(em: _Emitter, tensor: str, op: str):
    """The one reader of ``tensor`` when it is a layer of ``op``, else None."""
    rs = em.readers.get(tensor, [])
    return rs[0] if len(rs) == 1 and rs[0].op == op and tensor not in em.g.outputs else None


def _squeeze_excite(em: _Emitter, d: Node):
    """(pool, reduce, expand, mul) when ``d``'s output is gated by a squeeze-excite of biased 1x1 convs."""
    rs = em.readers.get(d.output, [])
    pool = next((r for r in rs if r.op == "pool"), None)
    mul = next((r for r in rs if r.op == "mul"), None)
    if len(rs) != 2 or pool is None or mul is None or mul.act:
        return None
    c1 = _only(em, pool.output, "pw")
    c2 = c1 and _only(em, c1.output, "pw")
    if not c2 or not (c1.bias and c2.bias and not c1.bn and not c2.bn) or _only(em, c2.output, "mul") is not mul \
            or c2.cout != d.cout or c1.cin != d.cout:
        return None
    return pool, c1, c2, mul


def _squeeze_rule_fits(family: str, exp: int, squeeze: int) -> bool:
    """Whether every convention's squeeze rule for ``family`` gives ``squeeze`` at the file's widths."""
    from .conventions import convention_names, get_convention
    from .scaling import SQUEEZE_RULES

    rules = set()
    for name in convention_names():
        found = get_convention(name).rules_by_family.get(family)
        if found is not None:
            rules.add(found.se_squeeze)
    return all(int(SQUEEZE_RULES[r](exp, exp)) == squeeze for r in rules or {"div8"})


def _bneck(em: _Emitter, d: Node):
    """The inverted residual around depthwise layer ``d``, or None where its layers are not exactly one."""
    e = em.by_out.get(d.inputs[0])
    if not (e is not None and e.op == "pw" and e.act == d.act and id(e) not in em.done and em.fx(e) == em.fx(d)):
        e = None
    se = _squeeze_excite(em, d)
    gate = se[3].output if se else d.output
    p = _only(em, gate, "pw")
    if p is None or p.act or em.fx(p) != em.fx(d) or em.fx(d) not in ((True, False), (False, True)):
        return None
    if se and not _squeeze_rule_fits(em.family, d.cout, se[1].cout):
        em.notes.append(f"{d.onnx[0]}: a squeeze-excite of {se[1].cout} on {d.cout} channels, not the {em.family} "
                        "family's squeeze rule: imported as separate layers")
        return None
    if d.cout % 8 or p.cout % 8:
        return None
    x = e.inputs[0] if e else d.inputs[0]
    rs = em.readers.get(p.output, [])
    add = rs[0] if len(rs) == 1 and rs[0].op == "add" and sorted(rs[0].inputs) == sorted([p.output, x]) \
        and not rs[0].act and p.output not in em.g.outputs else None
    members = [m for m in (e, d, *(se or ()), p, add) if m is not None]
    return dict(expand=e, dw=d, se=se, project=p, add=add, input=x, members=members)


def _block_row(em: _Emitter, b: dict):
    e, d, se, p, add, x = b["expand"], b["dw"], b["se"], b["project"], b["add"], b["input"]
    stage = em.stage("bneck")
    bn = em.fx(d)[0]
    could = d.s == 1 and p.cout == (e.cin if e else d.cin)
    row = {"stage": stage, "op": "bneck", "kernel": d.k, "exp": d.cout, "out": p.cout, "stride": d.s,
           "se": 1 if se else "", "nl": d.act, "bn": int(bn), "residual": "0" if could and not add else "",
           "source": _source([o for m in b["members"] for o in m.onnx])}
    if d.dil > 1:
        row["dilation"] = d.dil
    layers = {"dw": (d.output, d.onnx), "project": (p.output, p.onnx)}
    if e:
        layers["expand"] = (e.output, e.onnx)
        em.refs[e.output] = f"{stage}.expand"
    em.refs[d.output] = f"{stage}.dw"
    if se:
        layers["se"] = (se[3].output, [o for m in se for o in m.onnx])
        em.refs[se[3].output] = f"{stage}.se"
    em.refs[p.output] = f"{stage}.project" if add else stage
    if add:
        layers["add"] = (add.output, add.onnx)
        em.refs[add.output] = stage
    em.add_row(row, [x], layers)


_Emitter.block_row = _block_row


def check_convention(family: str) -> str:
    """The convention an imported table is checked under: torchvision's, else timm's, else the paper's."""
    from .conventions import get_convention

    for name in ("torchvision", "timm", "paper"):
        if family in get_convention(name).rules_by_family:
            return name
    return "paper"


def _verify(result: Imported, e: _Emitter, g: Graph, name: str):
    """Cost the table at the file's size and compare every layer's output with the file's own shape."""
    import tempfile

    from .engine import cost

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "imported.csv")
        with open(path, "w", encoding="utf-8") as f:
            f.write(result.text)
        try:
            layers = cost(path, resolution=g.height, convention=check_convention(result.family)).layers
        except Exception as exc:  # the table's own checks: a bug in the importer, said as such
            raise TableError(f"{name}: the imported table does not cost ({str(exc).splitlines()[0]:.200})") from None
    shapes = {r.name: (int(r.c_out), int(r.h_out), int(r.w_out)) for r in layers.itertuples()}
    for layer, (tensor, nodes) in e.layers.items():
        d = g.dims.get(tensor) or []
        want = (d[1], d[2], d[3]) if len(d) == 4 else (d[1], 1, 1) if len(d) == 2 else None
        got = shapes.get(layer)
        if got is None or (want is not None and None not in want and tuple(want) != got):
            raise TableError(f"{name}: node {nodes[-1]!r} gives {want} (C, H, W) in the file but {got} as the "
                             f"table's layer {layer}: its padding or layout is not one a table can state")


def run(path, output=None, *, folded_bn=False, family=None, netron=None, device=None, convention=None) -> str:
    """``mnetcost import``: import ``path``, write the table to ``output`` (else return it as the text to
    print) and, with ``netron``, the Netron attachment of its costs at the file's size under ``convention``
    (default: the one the import is checked under), with ``device``'s roofline times."""
    imported = import_onnx(path, folded_bn=folded_bn, family=family)
    if output is not None:
        _write(output, imported.text)
    if netron is not None:
        _netron(imported, netron, device, convention or check_convention(imported.family))
    if output is None:
        return imported.text.rstrip("\n")
    rows = imported.rows
    blocks = sum(r["op"] == "bneck" for r in rows)
    return (f"wrote {output}: {len(rows)} rows ({blocks} inverted-residual blocks), family {imported.family}, "
            f"{imported.resolution} px" + (f"; Netron attachment {netron}" if netron else ""))


def _write(path, text: str):
    from .errors import EnvironmentProblem

    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise EnvironmentProblem(f"cannot write {path}: {e.strerror or e}") from None


def _netron(imported: Imported, path, device, convention):
    import tempfile

    from . import netron
    from .engine import cost
    from .latency import roofline

    with tempfile.TemporaryDirectory() as folder:
        table = os.path.join(folder, "imported.csv")
        _write(table, imported.text)
        layers = cost(table, resolution=imported.resolution, convention=convention).layers
        timing = None
        if device is not None:
            r = roofline(table, device=device, resolution=imported.resolution, convention=convention)
            timing = r.layers
    netron.write(path, netron.attachment(imported, layers, timing))


def _scale_and_add(em: _Emitter, p: Node, x: str):
    """The layer scale after projection ``p`` and the residual add of block input ``x``, each or None."""
    scale = _only(em, p.output, "scale")
    last = scale or p
    rs = em.readers.get(last.output, [])
    add = rs[0] if len(rs) == 1 and rs[0].op == "add" and sorted(rs[0].inputs) == sorted([last.output, x]) \
        and not rs[0].act and last.output not in em.g.outputs else None
    return scale, add


def _uib(em: _Emitter, e: Node):
    """V4's Universal Inverted Bottleneck around 1x1 expansion ``e``: an optional linear depthwise start, an
    optional middle depthwise conv with e's activation, a linear 1x1 projection, layer scale, residual."""
    if not e.act:
        return None
    s = em.by_out.get(e.inputs[0])
    s = s if s is not None and s.op == "dw" and not s.act and em.readers.get(s.output) == [e] \
        and id(s) not in em.done and em.fx(s) == em.fx(e) else None
    mid = _only(em, e.output, "dw")
    mid = mid if mid is not None and mid.act == e.act and em.fx(mid) == em.fx(e) else None
    p = _only(em, (mid or e).output, "pw")
    if p is None or p.act or em.fx(p) != em.fx(e) or em.fx(e) not in ((True, False), (False, True)):
        return None
    if (s and mid and s.s != 1) or e.cout % 8 or p.cout % 8:
        return None
    x = (s or e).inputs[0]
    scale, add = _scale_and_add(em, p, x)
    members = [m for m in (s, e, mid, p, scale, add) if m is not None]
    return dict(kind="uib", start=s, expand=e, dw=mid, project=p, scale=scale, add=add, input=x, members=members)


def _fused(em: _Emitter, c: Node):
    """V4's FusedIB around k x k conv ``c``: a linear 1x1 projection, layer scale, residual."""
    p = _only(em, c.output, "pw")
    if not c.act or p is None or p.act or em.fx(p) != em.fx(c) or em.fx(c) not in ((True, False), (False, True)) \
            or c.cout % 8 or p.cout % 8:
        return None
    scale, add = _scale_and_add(em, p, c.inputs[0])
    members = [m for m in (c, p, scale, add) if m is not None]
    return dict(kind="fused", expand=c, project=p, scale=scale, add=add, input=c.inputs[0], members=members)


def _mqa(em: _Emitter, a: Node):
    """V4's Mobile MQA around attention ``a``: an input BatchNorm, bias-free 1x1 query, key and value projections
    (keys and values after a strided linear depthwise conv when kv_stride > 1), output projection, scale, add."""
    q, k, v = (em.by_out.get(t) for t in a.inputs)
    if not all(m is not None and m.op == "pw" and not m.act and not m.bias and not m.bn for m in (q, k, v)):
        return None
    norm = em.by_out.get(q.inputs[0])
    if norm is None or norm.op != "norm" or norm.act or len(em.readers.get(norm.output, [])) != 3:
        return None
    downs = [em.by_out.get(m.inputs[0]) if m.inputs[0] != norm.output else None for m in (k, v)]
    kd, vd = downs
    if any(d is not None and not (d.op == "dw" and not d.act and d.inputs == [norm.output]) for d in downs) or \
            (kd is None) != (vd is None) or (kd and (kd.k, kd.s) != (vd.k, vd.s)):
        return None
    o = _only(em, a.output, "pw")
    if o is None or o.act or o.bias or o.bn or o.cin != a.cout:
        return None
    scale, add = _scale_and_add(em, o, norm.inputs[0])
    parts = dict(norm=norm, query=q, key_down=kd, key=k, value_down=vd, value=v, attn=a, output=o, scale=scale,
                 add=add)
    return dict(kind="mqa", parts=parts, input=norm.inputs[0], project=o, scale=scale, add=add,
                members=[m for m in parts.values() if m is not None])


def _v4_columns(b: dict) -> dict:
    """The columns of a uib, fused or mqa row that differ by kind (the rest: ``_v4_row``)."""
    if b["kind"] == "uib":
        s, e, mid = b["start"], b["expand"], b["dw"]
        stride = mid.s if mid else s.s if s else 1
        return dict(start=s.k if s else "", kernel=mid.k if mid else "", exp=e.cout, stride=stride, nl=e.act,
                    could=stride == 1 and b["project"].cout == (s or e).cin)
    if b["kind"] == "fused":
        c = b["expand"]
        return dict(kernel=c.k, exp=c.cout, stride=c.s, nl=c.act, could=c.s == 1 and b["project"].cout == c.cin)
    p = b["parts"]
    kd, a = p["key_down"], p["attn"].args
    args = f"heads={a['heads']}; key_dim={a['key_dim']}; value_dim={a['value_dim']}; kv_stride={kd.s if kd else 1}"
    return dict(kernel=kd.k if kd else "", stride=1, args=args, could=p["output"].cout == p["norm"].cin)


def _v4_row(em: _Emitter, b: dict):
    stage, p = em.stage(b["kind"]), b["project"]
    cols = _v4_columns(b)
    could = cols.pop("could")
    bn = 1 if b["kind"] == "mqa" else int(em.fx(b["expand"])[0])
    row = {"stage": stage, "op": b["kind"], "out": p.cout, "bn": bn, "layer_scale": 1 if b["scale"] else "",
           "residual": "0" if could and not b["add"] else "", **cols,
           "source": _source([o for m in b["members"] for o in m.onnx])}
    parts = b.get("parts") or {k: b.get(k) for k in ("start", "expand", "dw", "project", "scale", "add")}
    layers = {}
    for suffix, node in parts.items():
        if node is not None:
            layers[suffix] = (node.output, node.onnx)
            em.refs[node.output] = f"{stage}.{suffix}"
    em.refs[b["members"][-1].output] = stage
    em.add_row(row, [b["input"]], layers)


V4_BLOCKS = {"pw": _uib, "conv": _fused, "attn": _mqa}
