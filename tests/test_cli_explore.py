"""The exploring commands: models, table --by, compare, sweep, ratio, reference; their formats,
bad input, and 80-column output."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mnetcost
from mnetcost.cli import main

PUBLISHED = list(csv.DictReader(open(Path(__file__).resolve().parent.parent / "tables" / "reference" / "published.csv")))


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_lists_every_table_with_its_source(capsys):
    code, out, err = run(capsys, "models", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and not err
    assert [r["name"] for r in rows] == mnetcost.model_names()
    v1 = next(r for r in rows if r["name"] == "v1")
    assert v1["ref"] == "V1 paper, Table 1" and int(v1["layers"]) == 28 and int(v1["macs"]) == 568_740_352
    code, out, _ = run(capsys, "models")
    assert code == 0 and "v3-small-min" in out


def test_table_by_op_reproduces_v1_table_2(capsys):
    code, out, _ = run(capsys, "table", "v1", "--by", "op", "-f", "csv")
    rows = {r["op"]: r for r in csv.DictReader(io.StringIO(out))}
    assert code == 0
    assert [round(100 * float(rows[o]["macs_share"]), 2) for o in ("pw", "dw", "conv", "fc")] == [94.86, 3.06, 1.91, 0.18]
    assert [round(100 * float(rows[o]["weights_share"]), 2) for o in ("pw", "dw", "conv", "fc")] == [74.59, 1.06, 0.02, 24.33]
    code, out, _ = run(capsys, "table", "v2", "--by", "block")
    assert code == 0 and "bneck7" in out


def test_table_by_part_splits_a_detector(capsys):
    code, out, _ = run(capsys, "table", "ssdlite-v3-large", "-c", "torchvision", "--resolution", "320", "--classes",
                       "91", "--reduced-tail", "--by", "part", "-f", "json")
    d = json.loads(out)
    assert code == 0 and [r["part"] for r in d["rows"]] == ["backbone", "head"]
    assert sum(r["macs"] for r in d["rows"]) == d["totals"]["macs"] == 583_171_904
    assert sum(r["params"] for r in d["rows"]) == d["totals"]["params"] == 3_440_060


def test_unit_flops_doubles_counts(capsys):
    _, out, _ = run(capsys, "table", "v2", "-u", "flops", "-f", "json")
    d = json.loads(out)
    assert d["totals"]["flops"] == 2 * d["totals"]["macs"] == 2 * 300_774_272
    _, out, _ = run(capsys, "table", "v2", "-u", "flops")
    assert "601.5 M" in out and "FLOPs = 2 x MACs" in out


def test_compare_models(capsys):
    code, out, _ = run(capsys, "compare", "v1", "v2", "v3-large", "v3-small", "-f", "json")
    rows = json.loads(out)["rows"]
    assert code == 0 and [r["model"] for r in rows] == ["v1", "v2", "v3-large", "v3-small"]
    assert [r["macs"] for r in rows] == [mnetcost.cost(m).macs for m in ("v1", "v2", "v3-large", "v3-small")]


def test_compare_configurations(capsys):
    code, out, _ = run(capsys, "compare", "v2", "--alpha", "0.5,0.75,1.0", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [float(r["alpha"]) for r in rows] == [0.5, 0.75, 1.0]


def test_compare_conventions_explains_the_difference(capsys):
    code, out, _ = run(capsys, "compare", "v2", "--convention", "paper,torchvision,keras,tf-slim", "-f", "json")
    d = json.loads(out)
    assert code == 0 and [e["other"] for e in d["explanations"]] == ["torchvision", "keras", "tf-slim"]
    base = d["rows"][0]
    for row, e in zip(d["rows"][1:], d["explanations"]):
        assert sum(c["params"] for c in e["causes"]) == row["params"] - base["params"]
        assert sum(c["macs"] for c in e["causes"]) == row["macs"] - base["macs"]
    keras = {c["cause"]: c["params"] for c in d["explanations"][1]["causes"]}
    assert keras["BatchNorm parameters"] == 68_224  # 4 values x 17,056 BatchNorm channels
    slim = {c["cause"]: c["params"] for c in d["explanations"][2]["causes"]}
    assert slim["classifier classes"] == 1281


def test_compare_explains_torchvision_v3_width_rules(capsys):
    code, out, _ = run(capsys, "compare", "v3-large", "-a", "0.75", "-c", "paper,torchvision", "-f", "json")
    d = json.loads(out)
    causes = {c["cause"]: c for c in d["explanations"][0]["causes"]}
    assert causes["channel rounding"]["macs"] < 0 and causes["last-layer / head rule"]["params"] < 0
    tv = next(r for r in csv.DictReader(open(Path(__file__).parent / "data" / "torchvision_totals.csv"))
              if (r["model"], r["width_mult"], r["resolution"], r["num_classes"]) == ("mobilenet_v3_large", "0.75", "224", "1000"))
    assert (d["rows"][1]["params"], d["rows"][1]["macs"]) == (int(tv["params"]), int(tv["macs"]))


def tf_slim_rows(model):
    return [r for r in PUBLISHED if r["source"] == "tf_slim" and r["model"] == model and not r["variant"].startswith(("layer", "body"))]


def test_sweep_reproduces_the_tf_slim_v1_table(capsys):
    """The 16-row MobileNet_v1 checkpoint table: every params figure, and the MACs of all but the rows
    recorded as errata or unexplained in tables/reference/checks.csv (the 0.75 row, 0.25_192, 0.50_224)."""
    code, out, _ = run(capsys, "sweep", "v1", "--alpha", "0.25:1:0.25", "--resolution", "128:224:32", "-c", "tf-slim", "-f", "csv")
    grid = {(float(r["alpha"]), int(r["resolution"])): r for r in csv.DictReader(io.StringIO(out))}
    published = tf_slim_rows("mobilenet_v1")
    assert code == 0 and len(grid) == len(published) == 16
    off = {(0.75, 224), (0.75, 192), (0.75, 160), (0.75, 128), (0.25, 192), (0.5, 224)}
    for p in published:
        g = grid[(float(p["alpha"]), int(p["resolution"]))]
        assert f"{int(g['params']) / 1e6:.2f}" == p["params_millions"]
        same = f"{int(g['macs']) / 1e6:.0f}" == p["macs_millions"]
        assert same != ((float(p["alpha"]), int(p["resolution"])) in off)


def test_sweep_reproduces_the_tf_slim_v2_table(capsys):
    """The 22-row mobilenet_v2 checkpoint table (which truncates), as two sweeps."""
    _, out, _ = run(capsys, "sweep", "v2", "-a", "0.35,0.5,0.75,1.0", "-r", "96:224:32", "-c", "tf-slim", "-f", "csv")
    _, wide, _ = run(capsys, "sweep", "v2", "-a", "1.3,1.4", "-r", "224", "-c", "tf-slim", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(out))) + list(csv.DictReader(io.StringIO(wide)))
    grid = {(float(r["alpha"]), int(r["resolution"])): r for r in rows}
    published = tf_slim_rows("mobilenet_v2")
    assert len(grid) == len(published) == 22
    for p in published:
        g = grid[(float(p["alpha"]), int(p["resolution"]))]
        assert str(int(g["macs"]) // 10**6) == p["macs_millions"]
        assert f"{int(g['params']) // 10**4 / 100:.2f}" == p["params_millions"]


def test_sweep_rich_grid(capsys):
    code, out, _ = run(capsys, "sweep", "v2", "-a", "0.5,1", "-r", "160,224")
    assert code == 0 and "224 px" in out and "300.8 M" in out


def test_ratio_prints_v1_table_3(capsys):
    code, out, _ = run(capsys, "ratio", "--kernel", "3", "--in", "512", "--out", "512", "--size", "14",
                       "--alpha", "0.75", "--rho", "0.714", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert [(f"{float(r['macs']) / 1e6:.3g}", f"{float(r['params']) / 1e6:.2f}") for r in rows] == [
        ("462", "2.36"), ("52.3", "0.27"), ("29.6", "0.15"), ("15.1", "0.15")]
    code, out, _ = run(capsys, "ratio", "--kernel", "3", "--in", "512", "--out", "512", "--size", "14",
                       "--alpha", "0.75", "--rho", "0.714")
    assert "separable  = D_K·D_K·αM·ρD_F·ρD_F + αM·αN·ρD_F·ρD_F\n           = 3·3·384·9.996·9.996 + 384·384·9.996·9.996" in out
    assert "1/N + 1/D_K² = 1/384 + 1/9 = 0.113715" in out
    d = json.loads(run(capsys, "ratio", "--kernel", "3", "--in", "512", "--out", "512", "--size", "14", "-f", "json")[1])
    assert d["ratio"] == pytest.approx(d["closed_form"]) and len(d["rows"]) == 2


def test_reference(capsys):
    code, out, _ = run(capsys, "reference", "v2", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows and all(r["citation"] for r in rows)
    assert {r["verdict"] for r in rows} >= {"match", "unexplained"}
    tv = [r for r in rows if r["source"] == "torchvision" and r["quantity"] == "params"]
    assert tv and all(r["published"] == r["mnetcost"] == "3504872" for r in tv)
    code, out, _ = run(capsys, "reference")
    assert code == 0 and "erratum" in out and "Sources:" in out


@pytest.mark.parametrize("args, message", [
    (["sweep", "v2", "-a", "", "-r", "224"], "--alpha: empty list"),
    (["sweep", "v2", "-a", "1:0.5:0.1", "-r", "224"], "STOP 0.5 is less than START 1"),
    (["sweep", "v2", "-a", "0.5:1:0", "-r", "224"], "STEP must be > 0"),
    (["sweep", "v2", "-a", "-0.5", "-r", "224"], "values must be finite and > 0, got -0.5"),
    (["sweep", "v2", "-a", "nan", "-r", "224"], "got nan"),
    (["sweep", "v2", "-a", "1", "-r", "224.5"], "whole numbers only"),
    (["sweep", "v2", "-a", "1,x", "-r", "224"], "'x' is not a number"),
    (["sweep", "v2", "-a", "1"], "Missing option '--resolution'"),
    (["sweep", "v9", "-a", "1", "-r", "224"], "unknown model 'v9'"),
    (["compare", "v2", "v9"], "unknown model 'v9'"),
    (["compare", "v2", "-c", "paper,,keras"], "empty name"),
    (["compare", "v2", "-r", "16"], "too small"),
    (["compare"], "Missing argument"),
    (["ratio", "--kernel", "3", "--in", "0", "--out", "8", "--size", "7"], "in must be a finite number > 0 and at most 2,147,483,648, got 0"),
    (["ratio", "--kernel", "3", "--in", "8", "--out", "8", "--size", "7", "--rho", "nan"], "rho must be a finite number > 0"),
    (["ratio", "--kernel", "3"], "Missing option"),
    (["reference", "v9"], "no published figures for 'v9'"),
    (["table", "v1", "--by", "colour"], "'colour' is not one of"),
    (["memory", "v2", "--dtype", "float64"], "'float64' is not one of"),
    (["memory", "v2", "--schedule", "greedy"], "'greedy' is not one of"),
    (["roofline", "v2"], "needs a device"),
    (["roofline", "v2", "-d", "pixel9"], "unknown device 'pixel9'"),
    (["roofline", "v2", "--peak-macs", "0", "--bandwidth", "1G"], "peak MAC rate must be a positive number"),
    (["roofline", "v2", "--peak-macs", "1G", "--bandwidth", "-3"], "bandwidth must be a positive number"),
    (["roofline", "v2", "-d", "cortex-m7-480", "--bandwidth", "1G"], "not both"),
    (["calibrate", "--published", "v9"], "unknown latency set 'v9'"),
])
def test_bad_input(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


COMMANDS = [
    ["models"], ["table", "v2"], ["table", "v1", "--by", "op"], ["compare", "v1", "v2", "v3-large", "v3-small"],
    ["compare", "v2", "-c", "paper,torchvision,keras,tf-slim"], ["sweep", "v2", "-a", "0.35:1.4:0.15", "-r", "96:224:32"],
    ["ratio", "--kernel", "3", "--in", "512", "--out", "512", "--size", "14", "--alpha", "0.75", "--rho", "0.714"],
    ["reference"], ["memory", "v2"], ["memory", "v3-small", "--schedule", "layerwise"],
    ["roofline", "v2", "-d", "pixel1-big-core"], ["calibrate"], ["diff", "v3-large-v2tail", "v3-large"],
    ["fit", "v2", "--max-macs", "150M", "--max-params", "3M", "--all"], ["conventions"], ["train", "v2"],
    ["reference", "v2"], ["devices"], ["choose", "-d", "pixel1-big-core", "--max-latency", "20ms"],
    ["calibrate", "--published", "v3-paper"], ["fit", "v3-small", "--max-latency", "15ms", "-d", "pixel1-big-core"],
    ["reference", "v3-small"], ["choose", "--max-params", "4M", "--all"],
    ["table", "deeplabv3-v3-large", "-c", "torchvision", "-r", "520", "-k", "21", "--aux"],
    ["table", "v2", "-r", "1024x2048"],
]


@pytest.mark.parametrize("args", [["reference"], ["reference", "v3-small"], ["choose", "--all"],
                                  ["choose", "-d", "pixel1-big-core", "--max-latency", "20ms", "--all"]], ids=" ".join)
def test_at_80_columns_verdicts_and_checkpoint_names_are_whole(args):
    """Every verdict and checkpoint name of the CSV appears whole at 80 columns, and rows that differ only in
    their source show it (two checkpoints of one name are told apart)."""
    import csv
    import io

    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    shown = subprocess.run([sys.executable, "-m", "mnetcost", *args], capture_output=True, text=True, env=env).stdout
    rows = list(csv.DictReader(io.StringIO(subprocess.run([sys.executable, "-m", "mnetcost", *args, "-f", "csv"],
                                                          capture_output=True, text=True, env=env).stdout)))
    words = set(shown.split())
    if args[0] == "reference":
        assert {r["verdict"].replace("not_computed", "computed") for r in rows} <= words
        assert "unexplained" in words or "erratum" in words
    else:
        lines = shown.splitlines()
        assert all(any(r["checkpoint"] in line for line in lines) for r in rows)
        assert all(any(r["source"] in line.split() for line in lines) for r in rows)


@pytest.mark.parametrize("command", ["table", "models", "compare", "diff", "fit", "sweep", "ratio", "reference",
                                     "memory", "roofline", "train", "calibrate", "devices", "measure", "choose",
                                     "verify", "conventions"])
def test_help_fits_80_columns(command):
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    out = subprocess.run([sys.executable, "-m", "mnetcost", command, "--help"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "Example" in out.stdout
    assert all(len(line) <= 80 for line in out.stdout.splitlines()), max(out.stdout.splitlines(), key=len)


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_output_fits_80_columns(args):
    """At 80 columns every line fits, but a citation's (a URL or commit: printed whole, never split); no column
    is cut off; and no word of up to 14 characters is broken (the same words appear as at 300 columns)."""
    import re

    def output(columns):
        env = {**os.environ, "COLUMNS": str(columns), "TERM": "dumb"}
        out = subprocess.run([sys.executable, "-m", "mnetcost", *args], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
        return out.stdout

    narrow, wide = output(80), output(300)
    assert all(len(line) <= 80 for line in narrow.splitlines()), max(narrow.splitlines(), key=len)
    words = set(re.findall(r"[^\s│┃|]+", wide))
    broken = [w for w in re.findall(r"[^\s│┃|]+", narrow) if w not in words and sum(c.isalpha() for c in w) > 2]
    long_words = [w for w in broken if any(w in v and len(v) > 14 for v in words)]
    assert not set(broken) - set(long_words), sorted(set(broken) - set(long_words))[:5]


def test_completion_is_offered(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "--install-completion" in out


def test_shell_completion_offers_models_and_conventions():
    cmd = [sys.executable, "-m", "mnetcost"]
    env = {**os.environ, "_MNETCOST_COMPLETE": "complete_bash", "COMP_WORDS": "mnetcost table v3-s", "COMP_CWORD": "2"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["v3-small", "v3-small-early", "v3-small-min"]
    env.update(COMP_WORDS="mnetcost compare v2 --convention fv", COMP_CWORD="4")
    assert subprocess.run(cmd, capture_output=True, text=True, env=env).stdout.split() == ["fvcore"]


@pytest.mark.parametrize("command", ["table", "models", "compare", "sweep", "ratio", "reference", "memory",
                                     "roofline", "calibrate", "diff", "fit"])
def test_every_command_has_help_with_an_example(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and "Example: mnetcost " + command in out


def test_models_in_flops(capsys):
    _, out, _ = run(capsys, "models", "-u", "flops", "-f", "json")
    v1 = next(m for m in json.loads(out)["models"] if m["name"] == "v1")
    assert v1["flops"] == 2 * v1["macs"] == 2 * 568_740_352


def test_memory_command(capsys):
    code, out, _ = run(capsys, "memory", "v2", "--dtype", "float16", "-f", "json")
    d = json.loads(out)
    assert code == 0 and d["peak_bytes"] == 401_408 and d["schedule"] == "materialized" and d["dtype"] == "float16"
    assert {"resolution": 112, "channels": 16, "bytes": 401_408} in d["by_resolution"]
    code, out, _ = run(capsys, "memory", "v1", "--dtype", "int8", "--schedule", "layerwise", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and max(float(r["live_bytes"]) for r in rows) == 112 * 112 * (32 + 64)


def test_roofline_command(capsys):
    code, out, _ = run(capsys, "roofline", "v2", "-d", "pixel1-big-core", "-f", "json")
    d = json.loads(out)
    assert code == 0 and d["latency_s"] == pytest.approx(mnetcost.roofline("v2", device="pixel1-big-core").latency_s)
    assert all(name.endswith((".dw", ".add")) or name in ("pool", "fc") for name in d["memory_bound"])
    code, out, _ = run(capsys, "roofline", "v3-small", "--peak-macs", "0.96G", "--bandwidth", "1.92G", "--dtype", "int8")
    assert code == 0 and "memory-bound" in out


def test_calibrate_command(capsys):
    code, out, _ = run(capsys, "calibrate", "-f", "json")
    d = json.loads(out)
    assert code == 0 and len(d["rows"]) == 28 and d["device"]["name"] == "pixel1-big-core"
    assert 0 < d["device"]["held_out"]["within_10"] <= 1 and d["train_error"] > 0




def test_help_names_arguments_plainly_and_summaries_whole():
    """Usage lines show MODEL (not typer's {MODEL}) and no '<str>'; `mnetcost --help` never cuts a summary."""
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}

    def helptext(*args):
        return subprocess.run([sys.executable, "-m", "mnetcost", *args, "--help"], capture_output=True, text=True,
                              env=env).stdout

    top = helptext()
    assert "..." not in top.split("Commands:")[1] and "budget of MACs, parameters, peak activation memory" in top
    for command in ("table", "compare", "diff", "reference", "train"):
        text = helptext(command)
        assert "{" not in text.splitlines()[0] and "<str>" not in text, text[:300]
    assert helptext("table").startswith("Usage: mnetcost table [OPTIONS] MODEL\n")


def test_one_dtype_rule_for_every_command(capsys):
    """Every --dtype defaults to float32 (vocab.DEFAULT_DTYPE); a device profile's own where a device predicts."""
    from mnetcost.vocab import DEFAULT_DTYPE

    assert DEFAULT_DTYPE == "float32"
    assert json.loads(run(capsys, "memory", "v2", "-f", "json")[1])["dtype"] == "float32"
    assert json.loads(run(capsys, "memory", "v2", "-f", "json")[1])["peak_bytes"] == 2 * 401_408
    fit = run(capsys, "fit", "v2", "--max-peak-memory", "1M", "-r", "96", "-a", "0.5", "-f", "json")[1]
    assert json.loads(fit)["budget"] == "peak <= 1MB (float32, materialized)"
    train = run(capsys, "train", "v2", "-f", "json")[1]
    assert json.loads(train)["dtype"] == "float32"
    assert "float32, materialized" in " ".join(run(capsys, "choose", "--max-params", "2M")[1].split())
    for command in ("memory", "fit", "train", "choose", "roofline"):
        assert "float32" in " ".join(run(capsys, command, "--help")[1].split()), command


def test_fit_shows_peak_memory_only_when_it_is_a_budget(capsys):
    plain = run(capsys, "fit", "v2", "--max-macs", "150M")[1]
    peak = run(capsys, "fit", "v2", "--max-macs", "150M", "--max-peak-memory", "2M")[1]
    assert "peak (" not in plain and "peak (float32)" in peak


def test_flops_totals_in_flops(capsys):
    out = run(capsys, "table", "v2", "--by", "op", "-u", "flops")[1]
    assert "Total: 601,548,544 FLOPs" in out and "300,774,272 MACs" not in out


def test_a_column_shows_one_number_of_decimals(capsys):
    """choose's and fit's ms, roofline's µs and MAC/B: every row with the same decimals (19.0 beside 16.5)."""
    import re

    out = run(capsys, "choose", "-d", "pixel1-big-core", "--max-latency", "20ms", "-f", "table")[1]
    ms = [line.split()[2] for line in out.splitlines() if re.match(r"\s+(tf_slim|keras\w*|torchvision|paper_v4)\s", line)]
    assert ms and len({len(v.partition(".")[2]) for v in ms}) == 1, ms
