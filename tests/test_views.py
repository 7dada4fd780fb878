"""The layers under the CLI, tested on their own: the views (one per result type), the rows the library
computes for them (mnetcost.reports, explore.comparison / sweep_grid / diff_rows, ratios.table3), the
parsers of command-line text, and the CLI's own shape (thin, fast to import, the same values with or
without typer's pydantic coercion)."""

import ast
import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mnetcost
from mnetcost import parsing, reports, views, vocab
from mnetcost.errors import UsageError
from mnetcost.explore import comparison, diff_rows, sweep, sweep_columns, sweep_grid
from mnetcost.ratios import table3

CLI = Path(mnetcost.__file__).parent / "cli"


def render(view, fmt, width=100):
    if fmt != "table":
        return view.text(fmt)
    from rich.console import Console

    console = Console(width=width, file=io.StringIO(), color_system=None)
    for item in view.rich(width):
        console.print(item)
    return console.file.getvalue()


# --- views -----------------------------------------------------------------------------------------------

def test_a_cost_view_in_every_format_carries_the_totals():
    r = mnetcost.cost("v1")
    view = views.cost_layers(r, "flops")
    doc = json.loads(view.text("json"))
    assert doc["totals"]["macs"] == r.macs == 568_740_352 and doc["totals"]["flops"] == 2 * r.macs
    assert all(layer["flops"] == 2 * layer["macs"] for layer in doc["layers"])
    assert "flops" in view.text("csv").splitlines()[0]
    assert f"{2 * r.macs:,} FLOPs" in render(view, "table", 160)
    assert str(r.macs) in view.text("markdown")


def test_a_breakdown_view_scales_only_the_shown_count():
    r = mnetcost.cost("v1")
    rows = reports.breakdown_rows(r, "op")
    assert sum(row["macs"] for row in rows) == r.macs and sum(row["params"] for row in rows) == r.params
    view = views.cost_breakdown(r, "op", rows, "flops")
    doc = json.loads(view.text("json"))
    assert [row["flops"] for row in doc["rows"]] == [2 * row["macs"] for row in rows]
    assert [row["macs"] for row in doc["rows"]] == [row["macs"] for row in rows]
    assert rows[0]["macs"] == views.cost_breakdown(r, "op", rows, "macs").records[0]["count"]  # inputs untouched


def test_the_width_is_passed_not_global():
    """A narrow width makes the long columns wrap; nothing is left behind for the next table."""
    records = [{"a": "word " * 30, "b": 1}]
    view = views.View("t", [("a", "a", "long"), ("b", "b", "count")], [("a", "a", ""), ("b", "b", "")], records)
    narrow, wide = render(view, "table", 60), render(view, "table", 200)
    assert max(map(len, narrow.splitlines())) <= 60 < max(map(len, wide.splitlines()))
    assert not hasattr(mnetcost.render, "WIDTH")


@pytest.mark.parametrize("width", [80, 60])
def test_a_table_that_cannot_wrap_puts_names_on_lines_of_their_own_rather_than_crop(width):
    """Nine columns that never wrap (compare with a long model name) did not fit 80 columns, and rich cropped
    cells to "lraspp-v3-lar…" and "5…": now each name takes a line, the values the next lines, each whole."""
    records, why = comparison(["lraspp-v3-large", "v1"], [1.0], [None], ["paper"])
    text = render(views.comparison(records, why, ["paper"], ["lraspp-v3-large", "v1"], "macs"), "table", width)
    assert "…" not in text and max(map(len, text.splitlines())) <= width
    lines = text.splitlines()
    assert "lraspp-v3-large" in [line.strip() for line in lines]
    cells = " ".join(lines).split()
    assert {"520", "224", "21", "1000", "-1.5", "+1.0"} <= set(cells)


class _Ascii(io.StringIO):
    encoding = "ascii"  # a terminal without UTF-8: rich draws its ASCII grid instead


def _rich_table(columns, records, width, ascii_only=False):
    """What rich's own Table lays out for ``records`` at the widths ``render`` chose: the oracle of the table
    ``render.records_table`` lays out itself."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    headers = [h for _, h, _ in columns]
    cells = [[mnetcost.render._cell(rec.get(k), kind) for k, _, kind in columns] for rec in records]
    widths = mnetcost.render._widths(columns, headers, cells, width, None)
    if widths is None:
        return None, None
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for (_, header, kind), fixed in zip(columns, widths):
        table.add_column(header, justify="right" if kind in mnetcost.render.NUMERIC else "left",
                         no_wrap=kind != "long", overflow="fold" if kind == "long" else "ellipsis", width=fixed)
    for row in cells:
        table.add_row(*[Text(c) for c in row])
    console = Console(width=width, file=_Ascii() if ascii_only else io.StringIO(), color_system=None)
    console.print(table)
    return widths, console.file.getvalue()


_words = st.text(alphabet="ab cα\u4e2d-_\n", min_size=0, max_size=40)


@settings(max_examples=300, deadline=None)
@given(kinds=st.lists(st.sampled_from(["text", "long", "count", "float", "signed"]), min_size=1, max_size=5),
       rows=st.lists(st.lists(st.one_of(_words, st.integers(-10**9, 10**12)), min_size=5, max_size=5), min_size=1,
                     max_size=6),
       width=st.integers(30, 130), ascii_only=st.booleans())
def test_the_table_is_laid_out_as_richs_own_table(kinds, rows, width, ascii_only):
    """``records_table`` lays a table out itself (rich's Table took 0.15 s for reference's 358 rows): wherever
    its widths fit the terminal, the lines are rich's, character for character (headers bottom-aligned, cells
    top-aligned, long text wrapped between words, numbers to the right), in UTF-8 and in ASCII."""
    columns = [(f"c{i}", f"head {i}" if kind == "long" else f"h{i}", kind) for i, kind in enumerate(kinds)]
    records = [{k: (v if (kind in ("text", "long")) == isinstance(v, str) else str(v) if kind in ("text", "long")
                    else len(str(v))) for (k, _, kind), v in zip(columns, row)} for row in rows]
    widths, expected = _rich_table(columns, records, width, ascii_only)
    if widths is None:
        return  # it does not fit: stacked (tested above and below)
    ours = mnetcost.render.records_table("", columns, records, width=width)
    assert render_item(ours, width, ascii_only) == expected


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet="ab -", max_size=60), width=st.integers(1, 30), right=st.booleans())
def test_a_cell_wraps_as_rich_wraps_it(text, width, right):
    """``render._wrapped``, the table's word wrap for ASCII cells, gives rich's own lines (``Text.wrap``)."""
    from rich.console import Console
    from rich.text import Text

    lines = Text(text).wrap(Console(width=width + 1), width, justify="right" if right else "left", overflow="fold")
    assert mnetcost.render._wrapped(text, width, right) == [line.plain for line in lines]


def render_item(item, width, ascii_only=False):
    from rich.console import Console

    console = Console(width=width, file=_Ascii() if ascii_only else io.StringIO(), color_system=None)
    console.print(item)
    return console.file.getvalue()


def test_a_wide_table_without_names_stacks_rather_than_lose_columns():
    """A sweep of many resolutions is wider than the terminal and nothing in it wraps: rich lost the columns
    past the edge (416-608 px of v3-small at 100 columns); now each alpha takes a line and the resolutions
    follow on as many lines as they need, every one shown."""
    resolutions = list(range(96, 609, 32))
    rows = reports.records(sweep_columns("v3-small", [1.0], resolutions))
    text = render(views.sweep(rows, sweep_grid(rows, resolutions), resolutions, "v3-small", "paper", "exact",
                              "macs"), "table", 100)
    assert max(map(len, text.splitlines())) <= 100 and all(str(r) in text for r in resolutions)


def test_a_long_column_that_cannot_fit_stacks_rather_than_vanish():
    """At 60 columns `models` had no room left for its wrapping "what" column, and rich dropped the column,
    header and all: now each name takes a line and the titles wrap below it, within the width."""
    text = render(views.catalogue(mnetcost.explore.model_rows(), "macs", False), "table", 60)
    assert "DeepLabv3 with ASPP" in text and max(map(len, text.splitlines())) <= 60


def test_comparison_rows_and_their_explanations_add_up():
    records, why = comparison(["v2"], [1.0], [None], ["paper", "torchvision"])
    assert [r["d_macs"] for r in records] == [0, records[1]["macs"] - records[0]["macs"]]
    other, causes, total = why[0]
    assert other == "torchvision" and total["macs"] == records[1]["d_macs"]
    assert sum(c["macs"] for c in causes) == total["macs"] and sum(c["params"] for c in causes) == total["params"]
    text = render(views.comparison(records, why, ["paper", "torchvision"], ["v2"], "macs"), "table", 140)
    assert "why torchvision differs from paper" in text


def test_sweep_grid_pivots_without_losing_a_value():
    frame = sweep("v1", [0.5, 1.0], [128, 224])
    rows = reports.records(sweep_columns("v1", [0.5, 1.0], [128, 224]))
    assert rows == frame.to_dict("records")
    grid = sweep_grid(rows, [128, 224])
    assert [row["alpha"] for row in grid] == [0.5, 1.0]
    for rec in frame.to_dict("records"):
        row = grid[[g["alpha"] for g in grid].index(rec["alpha"])]
        assert row[str(rec["resolution"])] == rec["macs"] and row["params"] == rec["params"]
    view = views.sweep(rows, grid, [128, 224], "v1", "paper", "exact", "flops")
    assert view.shown[1]["224"] == 2 * mnetcost.cost("v1").macs and grid[1]["224"] == mnetcost.cost("v1").macs


def test_diff_records_equal_the_frames():
    for kw in ({"alpha": (1.0, 0.75)}, {"alpha": (1.0, 0.5), "spatial": "continuous", "resolution": (224, 200)}):
        d = mnetcost.explore.diff("v2", **kw)
        rl, rb, rp, _ = mnetcost.explore.diff_records("v2", **kw)
        assert (rl, rb, rp) == (d.layers.to_dict("records"), d.blocks.to_dict("records"), d.parts.to_dict("records"))


def test_diff_rows_and_view():
    records, totals, a, b = diff_rows("v2", alpha=(1.0, 0.75), by="layer")
    assert totals["d_macs"] == b.macs - a.macs == sum(r["d_macs"] for r in records)
    with pytest.raises(UsageError, match="diff --by takes block or layer or part"):
        diff_rows("v2", by="op")
    view = views.difference(records, totals, a, b, by="layer", all_rows=False, unit="macs")
    assert all(r["change"] != "same" for r in view.shown)


def test_table3_rows_are_cumulative():
    records, last = table3(3, 512, 512, 14, alpha=0.75, rho=0.714)
    assert [r["layer"] for r in records] == ["Convolution", "Depthwise Separable Conv", "alpha = 0.75", "rho = 0.714"]
    assert records[0]["macs"] == 3 * 3 * 512 * 512 * 14 * 14 and records[-1]["macs"] == last.macs_separable
    doc = json.loads(views.layer_ratio(records, last, {"kernel": 3, "in": 512, "out": 512, "size": 14, "alpha": 0.75,
                                                       "rho": 0.714, "spatial": "continuous"}, "macs").text("json"))
    assert doc["ratio"] == last.ratio and len(doc["formulas"]) == 7


def test_training_rows_sum_the_backward_parts():
    from mnetcost.train import training

    step = training("v2", freeze=14, batch=2)
    plain = [{k: v for k, v in r.items() if not k.startswith("backward_macs")}
             for r in reports.training_rows(step, "block")]
    assert plain == step.by_block().reset_index().to_dict("records")
    for by in ("block", "layer"):
        rows = reports.training_rows(step, by)
        assert sum(r["backward_macs"] for r in rows) == step.totals["backward_macs"]
        assert sum(r["backward_macs_torch"] for r in rows) == step.totals["backward_macs_torch"]
    with pytest.raises(UsageError, match="train --by takes block or layer"):
        reports.training_rows(step, "op")
    assert reports.saved_for_backward(step.totals) <= step.totals["saved_bytes"]


def test_memory_and_roofline_rows_equal_their_frames():
    m = mnetcost.memory("v2", dtype="int8")
    assert reports.records(m.columns, list(m.layers.columns)) == m.layers.to_dict("records")
    assert m.resolution_rows() == m.by_resolution().to_dict("records")
    r = mnetcost.roofline("v3-large", device="pixel1-big-core")
    assert reports.records(r.columns) == r.layers.to_dict("records")
    assert sum(reports.memory_bound_ops(r).values()) == len(r.memory_bound)
    assert reports.other_seconds(r) == float(r.layers["other_s"].sum())
    assert "memory-bound layers" in views.roofline(r, "v3-large", reports.memory_bound_ops(r), 0.0).caption


def test_figure_rows_and_verdicts():
    records = reports.figure_rows("v1")
    counts = reports.verdict_counts(records)
    assert sum(counts.values()) == len(records) and counts.get("match")
    assert "published figures for v1" in render(views.figures(records, counts, "v1", False), "table", 120)


def test_the_catalogue_rows_equal_models():
    assert mnetcost.explore.model_rows() == mnetcost.explore.models().to_dict("records")


def test_calibrate_takes_one_source():
    with pytest.raises(UsageError, match="not both"):
        reports.calibrate("m.csv", "tf-slim")


def test_device_views():
    found = mnetcost.devices()
    doc = json.loads(views.device_list(found, None).text("json"))
    assert [d["name"] for d in doc["rows"]] == list(found)
    assert views.rate(float("inf"), "GMAC/s") == "unbounded" and views.rate(4.81e9, "GMAC/s") == "4.81 GMAC/s"
    assert views.finite(float("nan")) is None and views.finite(3) == 3


def test_budget_text():
    assert views.budget_text(max_macs="150M", max_params=None) == "MACs <= 150M"
    assert views.budget_text(" (int8, layerwise)", max_peak_memory="512K") == "peak <= 512KB (int8, layerwise)"


# --- parsing ---------------------------------------------------------------------------------------------

def test_parsers_name_the_option():
    assert parsing.symbols(["f=256"]) == {"f": 256} and parsing.symbols(None) is None
    assert parsing.head("320,320") == (320, 320)
    assert parsing.freeze("backbone") == "backbone" and parsing.freeze("14") == 14
    assert parsing.pair("1.0,0.75", "--alpha") == (1.0, 0.75) and parsing.pair(None, "--alpha", float, 1.0) == (1.0, 1.0)
    assert parsing.names("paper, keras", "--convention") == ["paper", "keras"]
    assert parsing.budget("150M", "--max-macs") == 150e6 and parsing.duration("20ms", "--max-latency") == 0.02
    for call, match in ((lambda: parsing.symbols(["f"]), "--set"), (lambda: parsing.freeze("x"), "--freeze"),
                        (lambda: parsing.pair("1:2:1", "--alpha"), "--alpha"),
                        (lambda: parsing.names("a,,b", "--convention"), "--convention"),
                        (lambda: parsing.budget("1e300", "--max-peak-memory"), "--max-peak-memory"),
                        (lambda: parsing.require_one({"a": None}, "give --a"), "give --a"),
                        (lambda: parsing.exclusive({"--m": 1, "--p": 2}), "--m or --p")):
        with pytest.raises(UsageError, match=match):
            call()


def test_the_library_uses_the_vocabularies():
    from mnetcost import calibration, explore, train, traffic

    assert traffic.DTYPE_BYTES is vocab.DTYPE_BYTES and traffic.SCHEDULES is vocab.SCHEDULES
    assert train.OPTIMIZER_STATE is vocab.OPTIMIZER_STATE and train.OPTIMIZERS is vocab.OPTIMIZERS
    assert calibration.FORMS is vocab.FORMS and calibration.HOLDOUTS is vocab.HOLDOUTS
    assert explore.FIT_ALPHAS == vocab.FIT_ALPHAS


# --- the CLI's shape -------------------------------------------------------------------------------------

def test_no_function_of_the_cli_is_longer_than_60_lines():
    for path in CLI.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 60, (path.name, node.name)


def test_the_cli_computes_nothing():
    """No arithmetic on counts in the CLI: no binary operator but | (types) and % (none), no sum()."""
    for path in CLI.glob("*.py"):
        tree = ast.parse(path.read_text())
        ops = {type(n.op).__name__ for n in ast.walk(tree) if isinstance(n, ast.BinOp)}
        assert ops <= {"BitOr"}, (path.name, ops)
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not calls & {"sum", "round", "max", "min"}, (path.name, calls)


@pytest.mark.parametrize("args, absent", [
    (None, ("numpy", "pandas", "rich.table", "pydantic")),
    (["table", "v2", "--alpha", "0.75", "--rho", "0.714", "-f", "json"], ("pandas", "pydantic", "rich.table")),
    (["memory", "v2", "-f", "json"], ("pandas", "pydantic")),
    (["roofline", "v2", "-d", "pixel1-big-core", "-f", "json"], ("pandas", "pydantic")),
    (["models", "-f", "json"], ("pandas", "pydantic")),
    (["train", "v2", "--freeze", "14", "-f", "json"], ("pandas", "pydantic")),
    (["diff", "v3-large-v2tail", "v3-large", "-f", "json"], ("pandas", "pydantic")),
    (["sweep", "v1", "-a", "0.5,1", "-r", "128:224:32", "-f", "json"], ("pandas", "pydantic")),
    (["ratio", "--kernel", "3", "--in", "32", "--out", "64", "--size", "14", "-f", "json"], ("pandas", "pydantic")),
    (["choose", "-d", "pixel1-big-core", "--max-latency", "20ms", "-f", "json"], ("pandas", "pydantic")),
    (["compare", "v2", "-c", "paper,torchvision,keras,tf-slim,timm", "-f", "json"], ("pandas", "pydantic")),
    (["fit", "v2", "--max-macs", "150M", "--max-latency", "20ms", "-d", "pixel1-big-core", "-f", "json"],
     ("pandas", "pydantic")),
])
def test_what_a_command_imports(args, absent):
    """Start-up: the CLI imports neither numpy nor pandas; these commands never need pandas (how fast they
    start is measured in benchmarks/startup.py, not here)."""
    run = "from mnetcost.cli import main" + ("" if args is None else f"; main({args!r})")
    code = f"import sys, io, contextlib\nwith contextlib.redirect_stdout(io.StringIO()): {run}\nprint(sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for module in absent:
        assert f"'{module}'" not in loaded, (args, module)


def test_a_run_builds_only_the_command_it_names():
    """Start-up: typer builds every option of every command it is given; a run gives it the one it names, and
    all of them otherwise (--help lists them, a misspelt name gets its suggestion)."""
    from mnetcost.cli import app
    from mnetcost.cli.coerce import command

    assert list(command(app, ["table", "v2", "-f", "json"]).commands) == ["table"]
    assert list(command(app, ["--version", "models"]).commands) == ["models"]
    everything = set(command(app, ["tabel", "v2"]).commands)
    assert {"table", "models", "reference", "import"} <= everything == set(command(app, []).commands)


ARGS = [["table", "v2", "--alpha", "0.75", "-f", "json"], ["table", "v1", "--by", "colour"], ["table", "v2", "-a", "x"],
        ["memory", "v2", "--dtype", "float64"], ["compare", "v2", "-c", "paper,keras", "-f", "csv"], ["ratio"],
        ["diff", "v2", "--alpha", "1.0,0.75", "--all", "-f", "markdown"], ["train", "v2", "--set", "f=1", "--set", "g=2"],
        ["table", "v2", "--resolution", "224x320", "-u", "flops", "-f", "csv"], ["sweep", "v1", "-a", "0.5", "-r", "x"],
        ["--version"], ["table", "--help"], ["choose", "--form", "x"], ["calibrate", "--form", "nope"]]


@pytest.mark.parametrize("args", ARGS, ids=[" ".join(a) for a in ARGS])
def test_the_same_answers_with_typers_own_coercion(args, monkeypatch):
    """mnetcost coerces its options without pydantic (start-up); typer's own coercion gives the same answers."""
    from mnetcost.cli import coerce, main

    def run():
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
        return code, out.getvalue(), err.getvalue()

    fast = run()
    monkeypatch.setattr(coerce, "ENABLED", False)
    assert run() == fast


def test_diff_by_part_lists_parts():
    """#20: diff --by part listed blocks under a "part" header."""
    records, *_ = diff_rows("ssdlite-v3-large", alpha=(1.0, 0.75), by="part")
    assert [r["part"] for r in records] == ["backbone", "head"]
    view = views.difference(records, *_, by="part", all_rows=True, unit="macs")
    assert [r["part"] for r in view.shown] == ["backbone", "head"] and view.columns[0][:2] == ("part", "part")


def test_memory_labels_non_square_rows_once(capsys):
    """#20: memory v2 -r 224x160 labelled its widest-tensor rows 224x160x224x160."""
    from mnetcost.cli import main

    assert main(["memory", "v2", "-r", "224x160"]) == 0
    text = capsys.readouterr().out
    assert " 112x80 " in text and "112x80x112x80" not in text and " 112x112 " not in text


def test_budgets_parse_in_the_order_given():
    assert parsing.budgets(max_macs="150M", max_latency="20ms", max_params=None, max_peak_memory="512K") == {
        "max_macs": 150e6, "max_latency": 0.02, "max_params": None, "max_peak_bytes": 512e3}
    with pytest.raises(UsageError, match="give a budget: --max-macs, --max-params, --max-peak-memory and/or "
                                         "--max-latency"):
        parsing.budgets(True, max_macs=None, max_params=None, max_peak_memory=None, max_latency=None)
    with pytest.raises(UsageError, match="--max-latency"):  # the first bad one in the order given
        parsing.budgets(max_latency="x", max_macs="y")


def test_every_command_and_option_has_its_help_text():
    """help.toml holds the help texts: one per command, each option's key used by some option."""
    from mnetcost.cli import app
    from mnetcost.cli.options import HELP

    names = [info.name or info.callback.__name__ for info in app.registered_commands]
    assert sorted(names) == sorted(HELP["commands"])
    shown = {info.help for info in app.registered_commands}
    assert all(HELP["commands"][n] in shown and "\bExample" in HELP["commands"][n].replace("\n", "") for n in names)
    used = (CLI / "commands.py").read_text() + (CLI / "options.py").read_text()
    for key in HELP["options"]:
        flag = f'"--{key}' in used or f'"{key}"' in used
        assert flag, key


def test_devices_of_a_file(tmp_path):
    from mnetcost.latency import devices, read_devices, tables_dir

    assert devices(tables_dir() / "devices.csv") == read_devices(tables_dir() / "devices.csv") == devices()
