"""A property-based fuzz of the CLI itself, run in-process: hypothesis draws argument vectors (every command,
hostile option values, shipped tables) and files for every reader (tables given as a CSV path, device files
via --device-file, measurement files via calibrate -m), and every outcome must be a result with valid, sane
numbers that answers its input, or `mnetcost: error:` lines with a documented exit code, within a time bound.

CI runs MNETCOST_FUZZ_EXAMPLES (default 150) examples per test; a long run on demand:
MNETCOST_FUZZ_EXAMPLES=3000 pytest tests/test_fuzz_cli.py (see benchmarks/README.md for the last one)."""

import contextlib
import csv
import io
import json
import os
import re
import signal
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mnetcost
from mnetcost.cli import main

EXAMPLES = int(os.environ.get("MNETCOST_FUZZ_EXAMPLES", "150"))
SECONDS = 30  # one command, at most (a busy CI machine is 2-3x slower than a developer's)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("MNETCOST_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])

NUMBERS = ["0", "-1", "1", "0.5", "0.35", "1.4", "3", "7", "97", "160", "224", "1e-300", "1e300", "1e400", "nan", "inf",
           "-inf", "2147483649", "9223372036854775808", "9" * 60, "0x10", "", " ", "1,2", "0.5,1", "1:2:0.5", "96:224:32",
           "224x320", "1e3", "[/]", "=1", "a", "²", "１"]
MODELS = ["v1", "v2", "v3-small", "v4-hybrid-medium", "lraspp-v3-large", "ssdlite-v2", "mobilenet_v2", "V2", "nosuch",
          "nosuch.csv", "/", "~nosuchuser/x.csv", "a" * 300]
CONVENTIONS = ["paper", "torchvision", "keras", "tf-slim", "timm", "timm-fused", "fvcore", "nope", "paper,torchvision"]
COMMANDS = {
    "table": ["--alpha", "--rho", "--resolution", "--convention", "--classes", "--head", "--by", "--unit", "--no-top",
              "--spatial", "--set", "--aux", "--reduced-tail"],
    "compare": ["--alpha", "--resolution", "--convention", "--classes"],
    "diff": ["--alpha", "--resolution", "--convention", "--by"],
    "sweep": ["--alpha", "--resolution", "--convention", "--classes", "--spatial"],
    "fit": ["--max-macs", "--max-params", "--max-peak-memory", "--alpha", "--resolution", "--dtype", "--schedule",
            "--max-latency", "--device"],
    "memory": ["--alpha", "--resolution", "--dtype", "--schedule", "--convention", "--head"],
    "roofline": ["--device", "--peak-macs", "--bandwidth", "--alpha", "--resolution", "--dtype"],
    "train": ["--freeze", "--batch", "--head", "--classes", "--optimizer", "--alpha", "--resolution", "--by",
              "--convention"],
    "ratio": ["--kernel", "--in", "--out", "--size", "--alpha", "--rho", "--spatial"],
    "models": ["--unit"], "reference": [], "conventions": [], "calibrate": ["--published", "--form", "--holdout", "--name"],
    "choose": ["--device", "--max-latency", "--max-peak-memory", "--max-params", "--max-macs", "--dtype"],
    "devices": ["--device-file"], "verify": ["--alpha", "--resolution", "--convention", "--classes"],
    "measure": ["--alpha", "--resolution", "--threads", "--repeat", "--passes"],
    "report": ["--alpha", "--resolution", "--convention", "--classes", "--device", "--alpha-range", "--resolution-range",
               "--conventions", "--no-top", "--aux", "--reduced-tail"],
    "import": ["--folded-bn", "--family"],
}
# the file readers: which option of which command reads which kind of file
FILE_OPTIONS = {"--device-file": "devices", "--measurements": "measurements"}
for _command in ("devices", "roofline", "choose", "fit", "report"):
    COMMANDS[_command] = sorted(set(COMMANDS[_command]) | {"--device-file"})
COMMANDS["calibrate"] = COMMANDS["calibrate"] + ["--measurements"]
FLAGS = {"--no-top", "--aux", "--reduced-tail", "--folded-bn"}
CHOICES = {"--convention": CONVENTIONS, "--by": ["layer", "op", "block", "stage", "part", "colour"],
           "--unit": ["macs", "flops", "x"], "--spatial": ["exact", "continuous", "x"], "--set": ["f=256", "f", "=1"],
           "--dtype": ["int8", "float16", "float32", "int4"], "--schedule": ["layerwise", "materialized", "x"],
           "--device": ["pixel1-big-core", "pixel8-edgetpu-int8", "nope"], "--freeze": ["backbone", "14", "0", "99", "x"],
           "--optimizer": ["sgd", "adam", "lion"], "--family": ["v2", "v3", "v9"], "--published": ["v3-paper", "v4-pixel6-cpu", "x"],
           "--form": ["full", "roofline", "x"], "--holdout": ["network", "row", "x"],
           "--max-latency": ["20ms", "0.5s", "3", "-1ms", "x", "1e400"],
           "--threads": ["1", "0", "-1", "x"], "--repeat": ["1", "0", "x"], "--passes": ["1", "0", "-2", "x"],
           "--alpha-range": ["0.5:1:0.25", "0.25:1.5:0.05", "1:0.5:0.1", "0.01:100:0.01", "x", "0.5,1"],
           "--resolution-range": ["96:224:32", "224:96:32", "8:64:8", "1:99999:1", "x"],
           "--conventions": ["paper", "paper,torchvision", "keras,timm", "nope", ""]}
POSITIONAL = {"table": 1, "compare": 2, "diff": 2, "sweep": 1, "fit": 1, "memory": 1, "roofline": 1, "train": 1,
              "verify": 1, "measure": 1, "report": 1, "import": 1}
DEVICE_HEADER = ["name", "peak_macs", "bandwidth", "dtype", "terms", "holdout", "n", "within_10", "mean_error",
                 "proxy_within_10", "proxy_mean_error", "source", "coverage", "cache"]
DEVICE_VALUES = {"name": ["phone", "fuzz-dev", "", " ", "a\x1bb", "x" * 90, "pixel1-big-core"],
                 "peak_macs": ["1e9", "4.8e9", "0", "-1", "inf", "nan", "1e-300", "x", ""],
                 "bandwidth": ["1e9", "inf", "0", "nan", "x", ""], "dtype": ["float32", "int8", "fp32", "x", ""],
                 "terms": ["", "conv=1e9", "layer=1e-5", "conv=inf; dw=1e9", "layer=-1", "x=1", "conv"],
                 "holdout": ["", "row", "x"], "n": ["", "6", "-1", "x"], "within_10": ["", "0.5", "2"],
                 "mean_error": ["", "0.1", "nan"], "proxy_within_10": ["", "0.4"], "proxy_mean_error": ["", "0.2"],
                 "source": ["", "fuzz", "=cmd()"],
                 "coverage": ["", "pw=1..1e9", "pw=2..1", "x=1..2", "pw=1"],
                 "cache": ["", "8388608=1; 134217728=1.2", "1=1;1=2", "2=1", "x", "1e300=1e300", "8e6=0"]}
MEASURE_HEADER = ["model", "alpha", "resolution", "latency_ms", "convention", "layer", "null_ms", "evict_bytes"]
MEASURE_VALUES = {"model": ["v1", "v2", "v3-small", "v3-large", "nosuch", "", "TABLE"],
                  "alpha": ["0.5", "0.75", "1.0", "1", "0", "-1", "nan", "x"],
                  "resolution": ["128", "160", "224", "0", "96x128", "x"],
                  "latency_ms": ["3", "10.5", "25", "1e-300", "0", "-1", "inf", "x", ""],
                  "convention": ["", "paper", "tf-slim", "nope"], "layer": ["", "", "conv1", "nosuch"],
                  "null_ms": ["", "0.01", "-1", "x"],  # an operator suite's rows (measure --suite)
                  "evict_bytes": ["", "8388608", "134217728", "0", "-1", "x", "1e300"]}
TABLE_ROWS = ["stem,32x32x3,conv2d 3x3,conv,3,,,16,1,2,,RE6,1,stem,",
              "b1,16x16x16,bottleneck,bneck,3,4,,24,2,2,,RE6,1,,",
              "b2,8x8x24,bottleneck,bneck,3,6,,32,1000,1,,RE6,1,,",
              "head,8x8x24,conv2d 1x1,conv,1,,,64,1,1,,RE6,1,last,",
              "pool,8x8x64,avgpool,pool,,,,,1,1,,,0,,", "fc,1x1x64,classifier,fc,1,,,k,1,1,,,0,classes,",
              "bad,x,,conv,0,,,-1,1,1,,,1,,", "short,1"]
TABLE_HEADER = "stage,input,operator,op,kernel,t,exp,out,n,stride,se,nl,bn,width,source"


@st.composite
def csv_file(draw, header, values):
    """A CSV of the reader's columns: some cut short, some rows with fewer fields than the header."""
    columns = header[:draw(st.integers(1, len(header)))] if draw(st.booleans()) else header
    lines = [",".join(columns)]
    for _ in range(draw(st.integers(0, 4))):
        row = [draw(st.sampled_from(values[c])) for c in columns]
        row = row[:draw(st.integers(0, len(row)))] if draw(st.integers(0, 5)) == 0 else row
        lines.append(",".join(f'"{v}"' if "," in v or ";" in v else v for v in row))
    return "\n".join(lines) + "\n"


@st.composite
def table_file(draw):
    name = draw(st.sampled_from(["fuzznet", "v2", "", "a b"]))
    rows = draw(st.lists(st.sampled_from(TABLE_ROWS), min_size=0, max_size=6))
    return f"# name: {name}\n# family: v2\n# resolution: 32\n{TABLE_HEADER}\n" + "\n".join(rows) + "\n"


FILES = {}  # path -> the text written there, for the oracle


def write_file(text: str, suffix: str) -> str:
    import hashlib
    import tempfile

    folder = os.path.join(tempfile.gettempdir(), f"mnetcost-fuzz-{os.getpid()}")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, hashlib.sha1(text.encode()).hexdigest()[:16] + suffix)
    with open(path, "w") as f:
        f.write(text)
    FILES[path] = text
    return path


@st.composite
def argv(draw):
    command = draw(st.sampled_from(sorted(COMMANDS)))
    table = write_file(draw(table_file()), ".csv")
    models = MODELS + [table]
    args = [command] + [draw(st.sampled_from(models)) for _ in range(draw(st.integers(0, POSITIONAL.get(command, 0))))]
    for option in draw(st.lists(st.sampled_from(COMMANDS[command] or ["--format"]), max_size=4, unique=True)):
        if option in FLAGS:
            args.append(option)
        elif option == "--device-file":
            args += [option, write_file(draw(csv_file(DEVICE_HEADER, DEVICE_VALUES)), ".csv")]
        elif option == "--measurements":
            text = draw(csv_file(MEASURE_HEADER, MEASURE_VALUES)).replace("TABLE", table)
            args += [option, write_file(text, ".csv")]
        else:
            args += [option, draw(st.sampled_from(CHOICES.get(option, NUMBERS)))]
    if command == "measure":  # one quick pass: the fuzz is about the options, not the timing
        args += [o for o in ("--passes", "1", "--repeat", "1") if o not in args] if "--passes" not in args else []
    if command == "report":  # the page to standard output (the fuzz writes no file); it has no --format
        return args + ["-o", "-"]
    if command != "import":  # import writes a table (CSV) and takes no --format
        args += ["-f", draw(st.sampled_from(["table", "csv", "json", "markdown"]))]
    return args


class Timeout(Exception):
    pass


def run(args):
    """main(args) in this process, with its output, under an alarm."""
    out, err = io.StringIO(), io.StringIO()

    def alarm(signum, frame):
        raise Timeout(" ".join(args)[:300])

    if os.environ.get("MNETCOST_FUZZ_LOG"):  # a long run: each case before it runs (one that kills the run is last)
        with open(os.environ["MNETCOST_FUZZ_LOG"], "a") as log:
            log.write(repr(args) + "\n")
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(SECONDS)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, out.getvalue(), err.getvalue()


def check_outcome(args, code, out, err):
    """The outcome must answer these arguments: a result that says what they asked for, or an error line
    that names the option, value or model at fault, with the documented exit code."""
    assert code in (0, 1, 2, 3), (args, code, err)
    if code:
        assert err and all(line.startswith("mnetcost: error: ") for line in err.splitlines()), (args, err)
        assert "internal error" not in err and "Traceback" not in err, (args, err)
        assert names_the_input(args, err), (args, err)
        return
    assert "Traceback" not in err and "Warning" not in err, (args, err)
    assert out.strip(), args  # a success answers
    fmt = args[-1]
    if fmt == "json":
        document = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in JSON: {args}"))
        totals = document.get("totals") or {}
        for key in ("macs", "params", "forward_macs", "backward_macs", "backward_macs_torch", "saved_bytes"):
            value = totals.get(key)
            assert value is None or value >= 0, (args, key, value)
            if value is not None and "continuous" not in args:
                assert isinstance(value, int), (args, key, value)
    elif fmt == "csv":
        for row in csv.reader(io.StringIO(out)):
            for cell in row:
                assert not cell.startswith(("=", "+", "@")), (args, cell)
    assert all(ch.isprintable() or ch in "\n\t" for ch in out), args
    if args[0] == "table":
        check_table(args, out)
    for option, kind in FILE_OPTIONS.items():
        if option in args:
            check_file_result(args, kind, args[args.index(option) + 1], out)
    if POSITIONAL.get(args[0]) and args[0] != "table" and fmt != "csv" and len(args) > 1 and not args[1].startswith("-"):
        name = mnetcost.load_table(args[1]).name
        assert name in out or args[1] in out, (args, name)  # the result is about the model asked for


def file_rows(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(FILES[path])))


def check_file_result(args, kind, path, out):
    """A file that was read answers from its own rows: the devices shown are the file's, a calibration is
    fitted to as many latencies as the file has rows."""
    rows = file_rows(path)
    fmt = args[-1]
    if kind == "devices":
        names = {r["name"].strip() for r in rows if r.get("name")}
        assert names, (args, FILES[path])  # a file without a profile is refused
        if args[0] == "devices" and fmt in ("csv", "json"):
            shown = ({r["name"] for r in csv.DictReader(io.StringIO(out))} if fmt == "csv"
                     else {d["name"] for d in json.loads(out)["rows"]})
            assert shown == names, (args, shown, names)
        elif args[0] == "roofline" and fmt == "json":
            assert json.loads(out)["device"]["name"] in names, args
    else:
        if fmt == "json":
            assert len(json.loads(out)["rows"]) == len(rows), (args, FILES[path])
        elif fmt == "csv":
            assert len(list(csv.DictReader(io.StringIO(out)))) == len(rows), (args, FILES[path])


def names_the_input(args, err) -> bool:
    """An error line names what was wrong: one of the arguments given (an option, its value, the model), or an
    option of the command (a missing budget, a pair of options that exclude each other)."""
    text = err.lower()
    given = [a.lower().strip() for a in (args[1:-2] if args[-2:-1] == ["-f"] else args[1:]) if a.strip()]
    given += [os.path.basename(a).lower() for a in args if a in FILES]  # a file's problems name the file
    given += [os.path.basename(f).lower() for a in args if a in FILES for f in FILES if f in FILES[a]]  # or one it names
    given += [f"'{a.split('=')[0].lower()}'" for a in args if "=" in a[1:]]  # --set f=256: "no param 'f'"
    for a in args[1:]:  # a model by an alias (mobilenet_v2) is named by its table's name (v2)
        with contextlib.suppress(Exception):
            given.append(f"{mnetcost.load_table(a).name.lower()} ")
    if re.search(r"missing (argument|option) '\S+'", text):  # click names what is missing
        return True
    options = COMMANDS[args[0]]
    if "measure" in args and "onnx" in text or "torch" in text and args[0] in ("verify", "measure"):
        return True  # an optional dependency missing (exit 3) names it
    if args[0] == "report" and "mnetcost[report]" in text:
        return True
    return (any(a[:40] in text or repr(a)[1:-1][:40] in text for a in given) or any(o in text for o in options)
            or any(re.search(rf"\b{o[2:].replace('-', '[ _-]')}\b", text) for o in options))


def option_values(args) -> dict:
    values, i = {}, 1 + POSITIONAL["table"]
    while i < len(args):
        if args[i] in FLAGS:
            values[args[i]] = True
            i += 1
        else:
            values[args[i]] = args[i + 1]
            i += 2
    return values


def _widths(text):
    """--head's widths as the user wrote them: W,W,... or a START:STOP:STEP range (STOP included)."""
    if ":" in text:
        start, stop, step = (float(v) for v in text.split(":"))
        return (int(start + i * step) for i in range(int((stop - start) / step + 1e-9) + 1))
    return (int(float(w)) for w in text.split(","))  # "1e3" is 1000


def check_table(args, out):
    """A table that succeeded has the totals of mnetcost.cost for these very options, in every format."""
    o = option_values(args)
    head = o.get("--head")
    expected = mnetcost.cost(
        args[1], alpha=float(o.get("--alpha", 1.0)), rho=float(o["--rho"]) if "--rho" in o else None,
        resolution=o.get("--resolution"), convention=o.get("--convention", "paper"),
        classes=int(o["--classes"]) if "--classes" in o else None, spatial=o.get("--spatial", "exact"),
        top=not o.get("--no-top"), head=tuple(_widths(head)) if head else None,
        aux=bool(o.get("--aux")), reduced_tail=bool(o.get("--reduced-tail")),
        symbols={"f": 256} if "--set" in o else None)
    k = 2 if o.get("--unit") == "flops" else 1
    fmt, by = args[-1], o.get("--by", "layer")
    if fmt == "json":
        document = json.loads(out)
        assert (document["model"], document["alpha"]) == (expected.model, expected.alpha), args
        assert (document["totals"]["macs"], document["totals"]["params"]) == (expected.macs, expected.params), args
        if by == "layer" and k == 2:
            assert document["totals"]["flops"] == 2 * expected.macs, args
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert sum(float(r["macs"]) for r in rows) == pytest.approx(expected.macs, rel=1e-9), args
        assert sum(int(r["params"]) for r in rows) == expected.params, args
    elif expected.spatial == "exact":
        shown = {f"{expected.macs:,}", str(expected.macs), f"{k * expected.macs:,}"}
        assert any(total in out for total in shown), (args, expected.macs)
        assert expected.model in out, args


def test_the_fuzz_covers_every_command_and_reader():
    from mnetcost.cli import app

    registered = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert registered == set(COMMANDS), registered ^ set(COMMANDS)
    readers = {o for options in COMMANDS.values() for o in options if o in FILE_OPTIONS}
    assert readers == set(FILE_OPTIONS)  # and every command takes a table path as MODEL (argv's models)


@FUZZ
@given(args=argv())
def test_every_command_ends_in_a_result_or_one_error_line(args):
    check_outcome(args, *run(args))


@FUZZ
@given(model=st.sampled_from(["v1", "v2", "v3-large", "v3-small", "mnasnet-b1", "efficientnet-b0", "v4-conv-small",
                              "v4-hybrid-medium", "lraspp-v3-large", "ssdlite-v3-small"]),
       convention=st.sampled_from(["paper", "torchvision"]),
       alphas=st.lists(st.floats(0.2, 2.0), min_size=2, max_size=2),
       resolutions=st.lists(st.integers(96, 600), min_size=2, max_size=2))
def test_shipped_tables_are_monotone_and_params_ignore_the_resolution(model, convention, alphas, resolutions):
    family = mnetcost.load_table(model).family
    convention = "timm" if family == "v4" else convention
    (a1, a2), (r1, r2) = sorted(alphas), sorted(resolutions)
    if mnetcost.load_table(model).backbone:
        a1 = a2 = 1.0  # torchvision's segmentation heads have one width
    small = mnetcost.cost(model, alpha=a1, resolution=r1, convention=convention)
    wide = mnetcost.cost(model, alpha=a2, resolution=r1, convention=convention)
    large = mnetcost.cost(model, alpha=a1, resolution=r2, convention=convention)
    assert small.macs <= wide.macs and small.params <= wide.params
    assert small.macs <= large.macs and small.params == large.params
    assert min(small.layers["macs"]) >= 0 and min(small.layers["params"]) >= 0


@FUZZ
@given(model=st.sampled_from(["v1", "v2", "v3-large", "v3-small"]),
       options=st.fixed_dictionaries({}, optional={
           "--alpha": st.sampled_from(["0.35", "0.5", "0.75", "1.0", "1.4"]),
           "--resolution": st.sampled_from(["96", "128", "160", "224", "320x240"]),
           "--convention": st.sampled_from(["paper", "torchvision", "keras"]),
           "--classes": st.sampled_from(["10", "1000"]), "--unit": st.sampled_from(["macs", "flops"]),
           "--by": st.sampled_from(["layer", "op", "block"])}),
       fmt=st.sampled_from(["table", "csv", "json", "markdown"]))
def test_a_valid_table_succeeds_with_the_totals_it_asked_for(model, options, fmt):
    args = ["table", model] + [x for item in options.items() for x in item] + ["-f", fmt]
    code, out, err = run(args)
    assert code == 0, (args, err)
    check_outcome(args, code, out, err)


FAKES = {"always an error": lambda args: print("mnetcost: error: nothing works", file=sys.stderr) or 2,
         "always silent success": lambda args: 0,
         "the wrong model": lambda args, real=main: real(["table", "v1", *args[2:]] if args[0] == "table" else args)}


@pytest.mark.parametrize("fake", sorted(FAKES))
def test_the_oracle_rejects_a_fake_main(fake, monkeypatch):
    """The oracle ties each outcome to its input: a main that ignores its arguments fails it."""
    monkeypatch.setattr(sys.modules[__name__], "main", FAKES[fake])
    cases = [["table", "v2", "--alpha", "0.75", "-f", "json"], ["table", "v3-small", "-f", "markdown"],
             ["table", "v2", "--alpha", "-1", "-f", "table"], ["ratio", "--kernel", "x", "-f", "csv"]]
    failures = 0
    for args in cases:
        try:
            check_outcome(args, *run(args))
        except AssertionError:
            failures += 1
    assert failures >= 2, fake
