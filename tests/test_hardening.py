"""Never wrong, never stuck, never a traceback: one test per class of hostile input (issue #14). Every
outcome is a result or one `mnetcost: error:` line with its documented exit code (mnetcost.errors)."""

import os
import re
import subprocess
import sys

import pytest

from mnetcost.cli import main

CLI = [sys.executable, "-m", "mnetcost"]


def run(args, env=None, **kw):
    return subprocess.run(CLI + args, capture_output=True, text=True, env={**os.environ, **(env or {})}, **kw)


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and err.startswith("mnetcost: error: ") and "Traceback" not in err


# ---- output channels

def test_a_full_disk_is_one_line_exit_3():
    with open("/dev/full", "w") as full:
        out = subprocess.run(CLI + ["table", "v2"], stdout=full, stderr=subprocess.PIPE, text=True)
    assert out.returncode == 3 and one_line(out.stderr) and "No space left" in out.stderr


def test_a_closed_stdout_is_one_line_exit_3():
    out = subprocess.run(CLI + ["models"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: os.close(1))
    assert out.returncode == 3 and one_line(out.stderr)


@pytest.mark.parametrize("args", [["memory", "v2"], ["reference"], ["table", "v2", "-f", "csv"], ["train", "v2"]])
def test_a_pipe_closed_early_ends_quietly(args):
    p = subprocess.Popen(CLI + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()  # as `| head -1` does
    assert p.wait(timeout=60) == 0 and p.stderr.read() == b""


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"},
                                 {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
                                  "PYTHONIOENCODING": ""}])
@pytest.mark.parametrize("args", [["table", "v2", "--alpha", "0.5"], ["compare", "v2", "-c", "paper,torchvision"],
                                  ["train", "v2"]])
def test_a_terminal_without_utf8_gets_ascii(env, args):
    out = run(args, env)
    assert out.returncode == 0 and out.stderr == "" and out.stdout.strip()
    out.stdout.encode("ascii")
    if args[0] == "table":
        assert "alpha 0.5" in out.stdout  # the stand-in for the symbol


@pytest.mark.parametrize("args", [["compare", "v2", "-c", "paper,torchvision"], ["fit", "v2", "--max-macs", "150M"],
                                  ["reference", "v3-small"], ["table", "v2"], ["ratio", "--kernel", "3", "--in", "8",
                                                                             "--out", "8", "--size", "7"]])
def test_without_utf8_headers_line_up_with_rows(args):
    """The ASCII stand-ins (alpha for α) are put in before a table is laid out: every row of a table has the
    same length and its column rules in the same places as its header."""
    out = run(args, {"PYTHONIOENCODING": "ascii", "COLUMNS": "80"})
    assert out.returncode == 0 and out.stderr == ""
    out.stdout.encode("ascii")
    tables = [block.split("\n") for block in re.findall(r"(?m)^\|.*(?:\n\|.*)*", out.stdout)]
    assert tables or args[0] in ("table", "ratio")
    for rows in tables:
        assert len({len(line) for line in rows}) == 1, rows[:3]
        assert len({tuple(i for i, ch in enumerate(line) if ch == "|") for line in rows if "|" in line[1:-1]}) == 1
    if args[0] == "compare":
        assert "alpha" in tables[0][0]


def test_columns_0_still_prints():
    out = run(["table", "v1"], {"COLUMNS": "0"})
    assert out.returncode == 0 and "568,740,352" in out.stdout.replace("\n", "")


def test_an_internal_error_is_still_one_line(monkeypatch, capsys):
    import mnetcost.engine

    def broken(*a, **k):
        raise ValueError("simulated bug")

    monkeypatch.setattr(mnetcost.engine, "cost_layers", broken)
    assert main(["table", "v2"]) == 70
    err = capsys.readouterr().err
    assert one_line(err) and "internal error (ValueError: simulated bug)" in err


# ---- numbers: exact or refused, never wrapped

def test_per_op_totals_and_shares_do_not_wrap():
    import mnetcost

    r = mnetcost.cost("v2", resolution=76_000_000)
    for frame in (r.by_op(), r.by_block(), r.by_stage()):
        assert sum(frame["macs"].tolist()) == r.macs and min(frame["macs"].tolist()) >= 0
        assert abs(sum(frame["macs_share"]) - 1) < 1e-9 and (frame["macs_share"] >= 0).all()
    pw = r.layers[r.layers["op"] == "pw"]
    assert r.by_op().loc["pw", "macs"] == sum(int(v) for v in pw["macs"])  # 3.08e19: beyond int64


@pytest.mark.parametrize("kwargs", [
    {"stage_alpha": [0.5] * 3}, {"stage_alpha": [0.5] * 12}, {"stage_alpha": [[0.5] * 11] * 2}, {"stage_alpha": []},
    {"stage_alpha": 0.5}, {"stage_alpha": "0.5"}, {"stage_alpha": [True] * 11}, {"stage_alpha": ["a"] * 11},
    {"stage_alpha": [10 ** 400] * 11}, {"alpha": 0.5, "stage_alpha": [1] * 11},
    {"alpha": True}, {"rho": True}, {"resolution": True}, {"alpha": 10 ** 400}, {"rho": 1e308},
    {"resolution": 2 ** 63}, {"resolution": "224x"}, {"classes": 2 ** 63}, {"head": 320}, {"head": [float("nan")]},
])
def test_bad_api_arguments_are_library_errors(kwargs):
    import mnetcost

    with pytest.raises(mnetcost.MnetcostError):
        mnetcost.cost("v2", **kwargs)


@pytest.mark.parametrize("call", [
    lambda m: m.sweep("v2", [0.5], [2 ** 63]), lambda m: m.sweep("v2", [0.5], [10 ** 400]),
    lambda m: m.sweep("v2", [0.5], [[224, 256]]), lambda m: m.sweep("v2", [0.5], ["224"]),
    lambda m: m.stage_sweep("v2", [[0.5] * 3]), lambda m: m.stage_sweep("v2", [[0.5] * 11], resolution=2 ** 63),
    lambda m: m.sweep("v2", [True], [224]),
])
def test_bad_sweep_arguments_are_library_errors(call):
    import mnetcost

    with pytest.raises(mnetcost.MnetcostError):
        call(mnetcost)


@pytest.mark.parametrize("argv", [
    "table v2 --head nan", "table v2 --head 1e400", "train v2 --head 320,nan", "table v2 --head " + "9" * 400,
    "table v2 --rho 1e308", "table v2 --rho 9223372036854775808", "table v2 --resolution 9223372036854775808",
    "memory v2 --resolution 9223372036854775808x224", "diff v2 --resolution 224,1e300",
    "sweep v2 --alpha 1 --resolution nan", "sweep v2 --alpha 1:2:nan --resolution 224",
    "compare v2 --alpha nan:2:0.5", "fit v2 --max-macs 1M --alpha 0.5:inf:0.5", "sweep v2 --alpha 1 --resolution inf",
    "sweep v2 --alpha 1 --resolution 9223372036854775808", "fit v2 --max-macs 2M --alpha 1 --resolution 9223372036854775808",
    "ratio --kernel 3 --in 1 --out 1 --size 1 --alpha 0.01 --spatial exact",
    "ratio --kernel 3 --in 512 --out 512 --size 14 --alpha 1e308 -f json", "ratio --kernel " + "9" * 400 + " --in 8 --out 8 --size 7",
    "roofline v2 --peak-macs 1e-300 --bandwidth 1e-300 -f json", "roofline v2 --peak-macs 1e-300 --bandwidth 1e-300",
    "table v2 --classes 9223372036854775808", "train v2 --batch 0", "train v2 --freeze 99",
    "diff v2 --alpha 0.5:1:0.1", "diff v2 --alpha 0.5,0.75,1",
])
def test_extreme_numbers_are_one_line_exit_2(argv, capsys):
    assert main(argv.split()) == 2
    captured = capsys.readouterr()
    assert one_line(captured.err), captured.err


def test_huge_but_valid_numbers_are_exact(capsys):
    import json

    assert main(["train", "v2", "--resolution", "76000000", "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["totals"]["forward_macs"] == __import__("mnetcost").cost("v2", resolution=76_000_000,
                                                                      convention="torchvision").mult_adds


# ---- bounded work: refused up front, with the size named

@pytest.mark.parametrize("argv, message", [
    ("compare v2 --alpha 0.01:1000:0.01", "rows to compare"),
    ("sweep v2 --alpha 0.00001:1:0.00001 --resolution 32:100031:1", "configurations x resolutions"),
    ("fit v2 --max-macs 1e30 --alpha 0.00001:1:0.00001 --resolution 32:100031:1", "configurations x resolutions"),
    ("table v2 --head " + ",".join(["1"] * 30000), "at most 100 dense layers"),
])
def test_huge_grids_are_refused_at_once(argv, message, capsys):
    assert main(argv.split()) == 2
    err = capsys.readouterr().err
    assert one_line(err) and message in err


def test_a_table_that_expands_too_far_is_refused(tmp_path, capsys):
    rows = "\n".join(f"b{i},bneck,3,6,32,1000,1" for i in range(20))
    t = tmp_path / "long.csv"
    t.write_text(f"# family: v2\nstage,op,kernel,t,out,n,stride\nc,conv,3,,32,1,2\n{rows}\n")
    for command in ("table", "memory", "train", "roofline"):
        args = [command, str(t)] + (["--device", "pixel1-big-core"] if command == "roofline" else [])
        assert main(args) == 1
        err = capsys.readouterr().err
        assert one_line(err) and "more than 10,000 layers" in err


# ---- tables: read as written, refused precisely

HEADER = "# family: v2\nstage,op,kernel,t,out,n,stride\n"


def table(tmp_path, body, name="t.csv", prefix=HEADER, raw=None):
    p = tmp_path / name
    if raw is not None:
        p.write_bytes(raw)
    else:
        p.write_text(prefix + body)
    return str(p)


def test_a_bom_is_accepted(tmp_path):
    import mnetcost

    p = table(tmp_path, "", raw=("\ufeff" + HEADER + "c,conv,3,,32,1,2\n").encode("utf-8"))
    assert mnetcost.cost(p).macs == 3 * 3 * 3 * 32 * 112 * 112


@pytest.mark.parametrize("body, message", [
    ("c,conv,3,,32,1,2,extra,more\n", "line 3: 9 fields, more than the header's 7 columns"),
    ("c,conv,3,,32,1,2\n\n\n\nb,blob,3,,32,1,1\n", "line 7, column op: unknown op"),
    ('c,conv,3,,32,1,2\n"x\ny\nz",conv,3,,32,1,1\nb,blob,3,,32,1,1\n', "line 4, column stage: a stage name is one line"),
    ('c,conv,3,,32,1,2,"x\ny"\nb,blob,3,,32,1,1\n', "line 5, column op: unknown op"),
    ("c,conv,3,,32,1,2\nb,bneck,3,1e308,32,1,1\n", "column t: must be a number > 0 and at most 10000"),
    ("c\x00x,conv,3,,32,1,2\n", "line 3: a control character"),
    ("c,conv,3,,32,1,2\nd,conv,3,,32,1,1," + "x" * 200_000 + "\n", "line 4"),
])
def test_malformed_tables_are_one_precise_line(tmp_path, capsys, body, message):
    """One line per problem, each with the file, the line and the column."""
    assert main(["table", table(tmp_path, body)]) == 1
    err = capsys.readouterr().err
    assert all(one_line(line + "\n") for line in err.splitlines()) and message in err, err


def test_a_repeated_column_is_an_error(tmp_path, capsys):
    p = table(tmp_path, "c,conv,3,,32,1,2,5\n", prefix="# family: v2\nstage,op,kernel,t,out,n,stride,kernel\n")
    assert main(["table", p]) == 1 and "kernel appear more than once" in capsys.readouterr().err


def test_a_backbone_cycle_is_an_error(tmp_path, capsys):
    a = tmp_path / "a.csv"
    a.write_text("# backbone: b.csv\nstage,op,kernel,out,n,stride\nx,conv,1,8,1,1\n")
    (tmp_path / "b.csv").write_text("# backbone: a.csv\nstage,op,kernel,out,n,stride\ny,conv,1,8,1,1\n")
    assert main(["table", str(a)]) == 1
    err = capsys.readouterr().err
    assert "cycle" in err and "Traceback" not in err and len(err) < 2000


@pytest.mark.parametrize("name", ["[/]", "[bold red]x", "=HYPERLINK(1)", "@SUM(1)", "+cmd", "-fc"])
def test_names_are_shown_as_written_and_never_run(tmp_path, capsys, name):
    import csv
    import io

    p = table(tmp_path, f'"{name}",conv,3,,32,1,2\n', prefix=f"# family: v2\n# name: {name}\nstage,op,kernel,t,out,n,stride\n")
    assert main(["table", p]) == 0 and name in capsys.readouterr().out  # markup shown, not applied
    for argv in (["table", p, "-f", "csv"], ["table", p, "--by", "block", "-f", "csv"], ["train", p, "-f", "csv"]):
        assert main(argv) == 0
        cells = [c for row in csv.reader(io.StringIO(capsys.readouterr().out)) for c in row]
        assert not any(c.startswith(("=", "+", "-", "@")) and not c.lstrip("-").replace(".", "").isdigit() for c in cells)
        assert ("'" + name if name.startswith(("=", "+", "-", "@")) else name) in cells


def test_control_characters_in_metadata_never_reach_the_terminal(tmp_path, capsys):
    p = table(tmp_path, "c,conv,3,,32,1,2\n", prefix="# family: v2\n# title: a\x1b[2Jb\nstage,op,kernel,t,out,n,stride\n")
    assert main(["table", p]) == 1 and "control character" in capsys.readouterr().err


# ---- paths

def test_a_file_named_like_a_shipped_table_does_not_shadow_it(tmp_path, monkeypatch):
    import mnetcost

    (tmp_path / "v2").write_text(HEADER + "c,conv,3,,32,1,2\n")
    monkeypatch.chdir(tmp_path)
    assert mnetcost.cost("v2").macs == 300_774_272
    assert mnetcost.cost("./v2").macs == 3 * 3 * 3 * 32 * 112 * 112  # a path says so


@pytest.mark.parametrize("model", ["a" * 300 + ".csv", "a" * 300, "d/" * 3000 + "x.csv", "~nosuchuser/x.csv",
                                   "~nosuchuser/x", "no\x00pe"])
def test_impossible_paths_are_one_line_exit_2(model, capsys):
    assert main(["table", model]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and ("no table file" in err or "unknown model" in err)


@pytest.mark.parametrize("alias, table", [("mobilenet_v2", "v2"), ("MobileNet_V3_Large", "v3-large"),
                                          ("mobilenetv4_conv_small", "v4-conv-small"), ("V2", "v2")])
def test_frameworks_names_are_aliases(alias, table):
    import mnetcost

    assert mnetcost.load_table(alias).name == table


# ---- the newcomer's papercuts

def test_version_conventions_and_help(capsys):
    import mnetcost

    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"mnetcost {mnetcost.__version__}"
    assert main(["conventions", "-f", "json"]) == 0
    import json

    names = [r["convention"] for r in json.loads(capsys.readouterr().out)["rows"]]
    assert names == mnetcost.convention_names() and "timm" in names
    assert main(["table", "--help"]) == 0
    help_text = capsys.readouterr().out
    examples = [line for line in help_text.splitlines() if line.strip().startswith("Example:")]
    assert len(examples) == 3 and all(line.count("Example:") == 1 for line in examples)  # one example a line
    assert "timm-fused" in help_text and "mnetcost conventions" in help_text


def test_library_results_read_well():
    import mnetcost

    assert repr(mnetcost.cost("v2")).startswith("Cost('v2', alpha=1, resolution=224") and len(repr(mnetcost.cost("v2"))) < 200
    assert len(repr(mnetcost.memory("v2"))) < 200 and len(repr(mnetcost.roofline("v2", device="pixel1-big-core"))) < 200
    frame = mnetcost.explore.models()
    assert list(frame["name"]) == mnetcost.model_names() and {"macs", "params", "resolution"} <= set(frame.columns)
    compared = mnetcost.compare(["v2"], alphas=[0.5, 1.0])
    assert list(compared["macs"]) == [97_131_840, 300_774_272]
    assert len(mnetcost.explore.fit("v2", max_macs=150e6))  # the CLI's default grid


def test_calibrate_names_the_published_sets(capsys):
    assert main(["calibrate", "--published", "v3-paper", "-f", "json"]) == 0
    capsys.readouterr()
    assert main(["calibrate", "--published", "nope"]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and "tf-slim" in err


@pytest.mark.parametrize("call", [
    lambda m: m.sweep("v2", 0.5, 224), lambda m: m.sweep("v2", None, None), lambda m: m.sweep("v2", [0.5], ["224x224"]),
    lambda m: m.fit("v2", max_macs="150M"), lambda m: m.fit("v2", max_macs=10 ** 400), lambda m: m.fit("v2", max_macs=True),
    lambda m: m.roofline("v2", device=["pixel1-big-core"]), lambda m: m.compare(["v2"], alphas=0.5),
    lambda m: m.compare(["v2"], resolutions=224), lambda m: m.diff("v2", alpha=(0.5,)),
    lambda m: m.diff("v2", alpha=(0.5, 1, 2)), lambda m: m.cost(["v2"]), lambda m: m.cost(None),
    lambda m: m.memory("v2", dtype=None), lambda m: m.cost("v2", convention=None),
])
def test_the_library_raises_only_its_own_errors(call):
    import mnetcost

    with pytest.raises(mnetcost.MnetcostError):
        call(mnetcost)


def test_json_is_json_with_unbounded_rates(capsys):
    """A fitted bandwidth or rate may be unbounded: JSON says null, never Infinity or NaN."""
    import json

    assert main(["calibrate", "--published", "tf-slim", "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(c))
    assert d["device"]["bandwidth"] is None
    assert main(["roofline", "v2", "-d", "pixel7-gpu-fp16", "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(c))
    assert d["device"]["peak_macs"] is None and d["latency_s"] > 0




@pytest.mark.parametrize("fmt", ["table", "csv", "json", "markdown"])
@pytest.mark.parametrize("args", [["fit", "v2", "--max-macs", "150M\r"],
                                  ["calibrate", "--published", "v3-paper", "--name", "a\x1b[2Jb"],
                                  ["calibrate", "--published", "v3-paper", "-o", "OUT\x1b[31m.csv"]])
def test_free_text_never_carries_control_characters(args, fmt, tmp_path):
    """An option value, a name or a path that reaches a title or caption is escaped in every format (one rule:
    terminal.printable), never written raw to the terminal."""
    args = [a.replace("OUT", str(tmp_path / "d")) for a in args]
    out = run(args + ["-f", fmt], {"COLUMNS": "200"})
    assert all(ch.isprintable() or ch == "\n" for ch in out.stdout + out.stderr), repr((out.stdout + out.stderr)[-300:])
    if out.returncode:  # a name refused (a device name is printable text): one escaped error line
        assert out.returncode == 2 and one_line(out.stderr) and "\\x1b" in out.stderr
    elif fmt == "markdown":
        assert "\\r" in out.stdout or "\\x1b" in out.stdout


@pytest.mark.parametrize("args", [["reference", "-f", "csv"], ["reference", "-f", "json"], ["table", "v2", "-f", "csv"],
                                  ["models", "-f", "markdown"], ["reference"]])
def test_a_pipe_closed_before_reading_ends_quietly(args):
    """`mnetcost reference -f csv | true` under pipefail: exit 0 and nothing on stderr, in every format."""
    p = subprocess.Popen(CLI + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # as `| true` does: the reader is gone before anything is written
    assert p.wait(timeout=60) == 0 and p.stderr.read() == b""


def test_choose_refuses_an_unknown_schedule():
    """choose took any schedule and priced peak memory as materialized (found reviewing the cache of its grids)."""
    import mnetcost
    from mnetcost.errors import UsageError

    with pytest.raises(UsageError, match="unknown schedule 'streamed'"):
        mnetcost.choose(schedule="streamed")
