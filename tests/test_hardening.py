"""Never wrong, never stuck, never a traceback: one test per class of hostile input (issue #14). Every
outcome is a result or one `mnetcost: error:` line with its documented exit code (mnetcost.errors)."""

import os
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
