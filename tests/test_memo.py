"""The cache of results between runs (``mnetcost.memo``): the same answer cold, warm and off; a changed package
computes afresh; a damaged or unwritable cache costs time only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mnetcost
from mnetcost import memo

ROOT = Path(mnetcost.__file__).resolve().parents[1]
COMMANDS = [["reference"], ["reference", "v2", "-f", "json"], ["models", "-f", "csv"],
            ["choose", "--device", "pixel1-big-core", "--max-latency", "20ms", "-f", "json"],
            ["choose", "--max-macs", "300M"]]


def run(args, cache):
    env = {**os.environ, "MNETCOST_CACHE": str(cache), "COLUMNS": "100", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "mnetcost", *args], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    return out.stdout


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_the_same_answer_off_cold_and_warm(args, tmp_path):
    off = run(args, "off")
    assert run(args, tmp_path) == off  # cold: computed and stored
    assert list(tmp_path.glob("*.json"))
    assert run(args, tmp_path) == off  # warm: read back


def test_a_kept_value_is_used_and_a_changed_package_computes_afresh(tmp_path, monkeypatch):
    monkeypatch.setenv("MNETCOST_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"macs": 300774272, "resolution": [224, 160]}

    assert memo.stored("t", ["v2"], compute) == {"macs": 300774272, "resolution": [224, 160]}
    assert memo.stored("t", ["v2"], compute) == {"macs": 300774272, "resolution": [224, 160]} and len(calls) == 1
    assert memo.stored("t", ["v1"], compute) and len(calls) == 2  # other arguments: another value
    monkeypatch.setattr(memo, "stamp", lambda: "an edited table")
    memo.stored("t", ["v2"], compute)
    assert len(calls) == 3


def test_the_stamp_follows_a_table_file(tmp_path, monkeypatch):
    """Editing a file of the tables folder (its size or time) changes the stamp."""
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / "net.csv").write_text("stage,op\n")
    monkeypatch.setattr("mnetcost.tables.tables_dir", lambda: folder)
    memo.stamp.cache_clear()
    try:
        before = memo.stamp()
        (folder / "net.csv").write_text("stage,op,out\n")
        memo.stamp.cache_clear()
        assert memo.stamp() != before
    finally:
        memo.stamp.cache_clear()


def test_a_damaged_or_refused_value_is_computed_again(tmp_path, monkeypatch):
    monkeypatch.setenv("MNETCOST_CACHE", str(tmp_path))
    memo.stored("t", [], lambda: [1, 2, 3])
    (kept,) = tmp_path.glob("mnetcost-t-*.json")
    kept.write_text("[1, 2")  # truncated
    assert memo.stored("t", [], lambda: [1, 2, 3]) == [1, 2, 3]
    assert memo.stored("t", [], lambda: [4], valid=lambda v: len(v) == 1) == [4]
    kept.write_text("7")  # valid JSON of another shape: len() of it raises
    assert memo.stored("t", [], lambda: [4], valid=lambda v: len(v) == 1) == [4]


def test_a_damaged_choose_grid_is_computed_again(tmp_path):
    """A kept grid of the wrong shape (a column emptied, a number turned to text) is refused and computed again."""
    args = ["choose", "--device", "pixel1-big-core", "--max-latency", "20ms", "-f", "json"]
    expected = run(args, "off")
    run(args, tmp_path)
    (kept,) = tmp_path.glob("mnetcost-choose-*.json")
    grids = json.loads(kept.read_text())
    for damage in ({"macs": []}, {"params": ["a"] * len(grids[0]["params"])}):
        kept.write_text(json.dumps([{**grids[0], **damage}] + grids[1:]))
        assert run(args, tmp_path) == expected


def test_an_unwritable_cache_costs_time_only(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("MNETCOST_CACHE", str(blocked / "cache"))
    assert memo.stored("t", [], lambda: {"a": 1}) == {"a": 1}
    assert run(["models", "-f", "csv"], blocked / "cache") == run(["models", "-f", "csv"], "off")


def test_off_touches_nothing_and_returns_what_json_reads_back(tmp_path, monkeypatch):
    monkeypatch.setenv("MNETCOST_CACHE", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert memo.stored("t", [], lambda: {"hw": (224, 160)}) == {"hw": [224, 160]}
    assert not any(tmp_path.iterdir())


def test_without_a_home_nothing_is_kept(monkeypatch):
    for name in ("MNETCOST_CACHE", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("os.path.expanduser", lambda path: path)  # what it returns without HOME or a passwd entry
    assert memo.folder() is None


def test_the_folder_keeps_its_newest_files_and_no_one_elses_are_touched(tmp_path, monkeypatch):
    monkeypatch.setenv("MNETCOST_CACHE", str(tmp_path))
    for i in range(70):
        (tmp_path / f"mine{i}.json").write_text("{}")
    for i in range(memo.KEEP + 5):
        memo.stored("t", [i], lambda: i)
    assert len(list(tmp_path.glob("mnetcost-*.json"))) == memo.KEEP
    assert len(list(tmp_path.glob("mine*.json"))) == 70


def test_a_package_that_cannot_be_stamped_is_not_kept(tmp_path, monkeypatch):
    """A file of the package that cannot be read (a dangling link: an editor's lock file) is left out of the
    stamp; a package that cannot be stamped at all computes without the cache, never an error."""
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / ".#net.csv").symlink_to(tmp_path / "nowhere")
    monkeypatch.setattr("mnetcost.tables.tables_dir", lambda: folder)
    memo.stamp.cache_clear()
    try:
        assert memo.stamp()
    finally:
        memo.stamp.cache_clear()

    def unreadable():
        raise PermissionError("the package")

    monkeypatch.setattr(memo, "stamp", unreadable)
    monkeypatch.setenv("MNETCOST_CACHE", str(tmp_path / "cache"))
    assert memo.stored("t", [], lambda: 5) == 5 and not (tmp_path / "cache").exists()
