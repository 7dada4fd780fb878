"""Row types (mnetcost/rows.py): each op's row is read and expanded in one place, and what a table's
references may name (layer names, their strides) is what expansion emits, not a second copy."""

import ast
from pathlib import Path

import pytest

import mnetcost
from mnetcost import rows, tables
from mnetcost.rows import ROW_TYPES, row_type
from mnetcost.tables import _Graph, load_table, model_names, parse_table

PX = 1024  # every shipped stride divides it: a tensor's stride is PX / its height

# Every row type and every variant of its layers (uib without start, without middle dw; mqa with and
# without key/value downsampling; an optional expansion present and absent; squeeze-excite).
EVERY_ROW = parse_table("""# family: v4
# resolution: 64
stage,op,start,kernel,t,exp,out,n,stride,se,layer_scale,args,from,size
stem,conv,,3,,,16,1,2,,,,,
sep,dwsep,,3,,,16,2,1,,,,,
b,bneck,,3,1,,24,2,2,1,,,,
b6,bneck,,3,6,,24,1,1,,,,,
dw,dw,,3,,,,1,1,,,,,
f,fused,,3,,64,24,1,1,,1,,,
u1,uib,3,5,,96,32,1,2,,1,,,
u2,uib,3,,,96,32,2,2,,1,,,
u3,uib,,,,64,32,1,1,,,,,
u4,uib,,3,,64,32,1,1,,,,,
a1,mqa,,3,,,32,1,1,,1,heads=2; key_dim=16; kv_stride=2,,
a2,mqa,,,,,32,1,1,,,heads=2; key_dim=16,,
cat,concat,,,,,,1,1,,,,"a2,u4",
sum,add,,,,,,1,1,,,,"a2,u3",
gate,mul,,,,,,1,1,,,,"sum,a1",
up,upsample,,,,,,1,1,,,,,b.1.expand
near,upsample,,,,,,1,1,,,nearest=1,a2,up
nrm,norm,,,,,,1,1,,,,,
grid,gridpool,,,,,,1,1,,,grid=4,,
pool,pool,,,,,,1,1,,,,,
fc,fc,,1,,,k,1,1,,,,,
""", "every.csv")


def _check_names_and_strides(table):
    """Every layer's name is its block or block.suffix with a suffix its row type declares, and the stride
    the table's graph gives that name (where the row type says its stride sits) is the layer's own."""
    graph = _Graph(table.channels)
    for row in table.rows:
        graph.add(row)
    layers = mnetcost.cost(table, resolution=PX, convention="timm", aux=bool(table.switches)).layers
    by_row = {row.stage: row for row in table.rows}
    emitted, gridded = {}, False
    for layer in layers.itertuples():
        row = by_row[layer.stage]
        gridded = gridded or layer.op == "gridpool"  # from a fixed grid on, a height says nothing of a stride
        suffix = layer.name[len(layer.block) + 1:]
        assert layer.name == layer.block or suffix in row_type(row.op).suffixes, layer.name
        assert layer.name in graph.names, layer.name
        emitted.setdefault(row.op, set()).add(suffix)
        kv = dict(row.args).get("kv_stride", 1)
        if gridded or layer.op in ("pool", "fc") or layer.h_in == 1 or (kv > 1 and suffix in ("key_down", "key", "value_down", "value")):
            continue  # pooled maps; keys and values at kv_stride (the graph keeps the block input's stride)
        assert PX // layer.h_out == min(graph.names[layer.name][1], table.output_stride or PX), layer.name
    return emitted


@pytest.mark.parametrize("name", model_names())
def test_shipped_layer_names_and_strides_are_the_row_types(name):
    _check_names_and_strides(load_table(name))


def test_every_declared_layer_name_is_emitted():
    """No row type declares a layer its build never emits: the declarations are not a second copy."""
    emitted = _check_names_and_strides(EVERY_ROW)
    for op, kind in ROW_TYPES.items():
        assert set(kind.suffixes) == emitted[op] - {""}, op


def test_the_lists_of_row_ops_are_read_from_the_row_types():
    assert tables.ROW_OPS == ("conv", "dw", "dwsep", "bneck", "fused", "uib", "mqa", "pool", "fc", "concat", "add",
                              "mul", "upsample", "norm", "gridpool")
    assert tables.BLOCK_OPS == ("bneck", "fused", "uib", "mqa") and tables.EXPANDING_OPS == ("bneck", "fused", "uib")
    assert tables.MERGE_OPS == ("concat", "add", "mul") and tables.LAYER_SCALE_OPS == ("fused", "uib", "mqa")
    assert row_type("gconv").op == "gconv" and not row_type("gconv").suffixes  # a registered op: one layer


def test_rows_module_imports_neither_tables_nor_expand():
    """rows.py sits below tables.py and expand.py (both import it): no import cycle, not even in a function."""
    tree = ast.parse(Path(rows.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not imported & {"tables", "expand", "engine", "mnetcost.tables", "mnetcost.expand"}, imported
