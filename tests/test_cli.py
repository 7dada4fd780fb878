"""The terminal front end: output formats, pipe-clean machine output, one-line errors and exit codes."""

import csv
import io
import json
import shutil
import subprocess
import sys

import pytest

import mnetcost
from mnetcost.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_table_default_is_a_rich_table_with_human_units(capsys):
    code, out, err = run(capsys, "table", "v2", "--alpha", "0.75", "--rho", "0.714")
    assert code == 0 and not err
    assert "alpha 0.75 · 160 px" in out and "convention paper" in out
    total = mnetcost.cost("v2", alpha=0.75, rho=0.714)
    assert f"{total.macs / 1e6:.1f} M" in out and "MACs = multiply-accumulates" in out


def test_json_is_one_document_with_the_issue_keys(capsys):
    code, out, err = run(capsys, "table", "v3-small", "--format", "json", "-c", "torchvision")
    d = json.loads(out)
    assert code == 0 and not err
    assert [k for k in d if k != "top"] == ["model", "alpha", "rho", "resolution", "convention", "classes", "spatial", "totals", "layers"]
    assert d["totals"]["params"] == 2_542_856 and d["totals"]["macs"] == 56_510_400


def test_csv_round_trips_through_pandas(capsys):
    import pandas as pd

    code, out, _ = run(capsys, "table", "v1", "-f", "csv")
    df = pd.read_csv(io.StringIO(out))
    assert code == 0 and df["macs"].sum() == 568_740_352 and df["params"].sum() == 4_210_088


def test_markdown_is_data_only(capsys):
    code, out, err = run(capsys, "table", "v1", "-f", "markdown", "-r", "160")
    assert code == 0 and not err and out.count("\n| ") > 28 and "| layer | op | k/s | input | output | MACs | params |" in out
    assert max(len(line) for line in out.splitlines()) < 100  # the rich table's columns, not all 28


def test_continuous_spatial(capsys):
    code, out, _ = run(capsys, "table", "v1", "--rho", "0.714", "--spatial", "continuous", "-f", "json")
    assert code == 0 and json.loads(out)["resolution"] == pytest.approx(159.936)


@pytest.mark.parametrize("args, code, message", [
    (["table", "v2", "--alpha", "0"], 2, "alpha must be a finite number > 0, got 0.0"),
    (["table", "v2", "--alpha", "nan"], 2, "got nan"),
    (["table", "v2", "--alpha", "abc"], 2, "'abc' is not a number"),
    (["table", "v2", "--rho", "0.5", "--resolution", "112"], 2, "give rho or resolution, not both"),
    (["table", "v2", "--resolution", "16"], 2, "resolution 16 px is too small for v2"),
    (["table", "v9"], 2, "unknown model 'v9'"),
    (["table", "v2", "-c", "flops"], 2, "unknown convention 'flops'"),
    (["table", "v2", "--format", "xml"], 2, "'xml' is not one of"),
    (["table", "v2", "--bogus"], 2, "No such option: --bogus"),
    (["table"], 2, "Missing argument"),
])
def test_bad_input_is_one_line_and_exit_code(capsys, args, code, message):
    got, out, err = run(capsys, *args)
    assert got == code and out == ""
    assert err.count("\n") == 1 and err.startswith("mnetcost: error: ") and message in err
    assert "Traceback" not in err


def test_malformed_csv_exits_1_with_a_line_per_problem(capsys, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("# family: v2\nstage,op,kernel,out,n,stride\nc1,conv,3,x32,1,2\nb1,conv,3,16,1,-2\n")
    code, out, err = run(capsys, "table", str(path))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "mnetcost: error: bad.csv, line 3, column out: must be a positive integer, got 'x32'",
        "mnetcost: error: bad.csv, line 4, column stride: must be a positive integer, got '-2'",
    ]


def test_missing_column_exits_1(capsys, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("# family: v2\nstage,op,kernel,n,stride\nc1,conv,3,1,2\n")
    code, _, err = run(capsys, "table", str(path))
    assert code == 1 and "missing column(s) out" in err and err.count("\n") == 1


def test_help_and_no_arguments(capsys):
    code, out, _ = run(capsys)
    assert code == 0 and "table" in out
    code, out, _ = run(capsys, "table", "--help")
    assert code == 0 and "mnetcost table v2 --alpha 0.75 --rho 0.714" in out


def test_python_dash_m_and_the_installed_script():
    commands = [[sys.executable, "-m", "mnetcost"]]
    if shutil.which("mnetcost"):
        commands.append([shutil.which("mnetcost")])
    for cmd in commands:
        ok = subprocess.run(cmd + ["table", "v3-small", "-f", "csv"], capture_output=True, text=True)
        assert ok.returncode == 0 and ok.stderr == ""
        assert sum(int(r["params"]) for r in csv.DictReader(io.StringIO(ok.stdout))) == mnetcost.cost("v3-small").params
        bad = subprocess.run(cmd + ["table", "v3-small", "--alpha", "-1"], capture_output=True, text=True)
        assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.count("\n") == 1
