"""The docs' shown examples are the program's output: every `$ mnetcost ...` in a fenced block of README.md
and docs/*.md is run at the width the block was rendered for (COLUMNS=80) and its output compared with the
block. A line `...` in a block stands for lines left out; every other line must appear, in order, with the
lines around it. To refresh a block after a deliberate change: `python tests/test_docs_examples.py`
prints each command's output."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ENV = {**os.environ, "COLUMNS": "80", "TERM": "dumb", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}


def examples():
    """(file, line, command, shown output lines) for every `$ mnetcost` line in a fenced block."""
    found = []
    for path in DOCS:
        lines = path.read_text().splitlines()
        fenced, current = False, None
        for number, line in enumerate(lines, 1):
            if line.startswith("```"):
                if current:
                    found.append(current)
                fenced, current = not fenced, None
            elif fenced and line.startswith("$ mnetcost "):
                if current:
                    found.append(current)
                current = (path.relative_to(ROOT).as_posix(), number, line[2:], [])
            elif current is not None:
                current[3].append(line)
    return [(f, n, c, _trim(shown)) for f, n, c, shown in found]


def _trim(lines):
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def output(command: str) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "mnetcost", *shlex.split(command)[1:]], capture_output=True,
                         text=True, env=ENV, cwd=ROOT, timeout=120)
    return [line.rstrip() for line in (out.stdout + out.stderr).splitlines()]


def chunks(shown):
    """The shown lines between `...` lines, each a run of lines that must appear together."""
    out, current = [], []
    for line in shown:
        if line.strip() == "...":
            out.append(current)
            current = []
        else:
            current.append(line.rstrip())
    out.append(current)
    return [c for c in out if c]


def matches(shown, actual) -> tuple[bool, str]:
    at = 0
    for chunk in chunks(shown):
        for start in range(at, len(actual) - len(chunk) + 1):
            if actual[start:start + len(chunk)] == chunk:
                at = start + len(chunk)
                break
        else:
            return False, "\n".join(chunk[:3])
    return True, ""


def test_the_docs_show_examples():
    assert len(examples()) >= 6 and {e[0] for e in examples()} >= {"README.md", "docs/tour.md"}


@pytest.mark.parametrize("doc, line, command, shown", examples(), ids=lambda x: x if isinstance(x, str) else None)
def test_a_shown_example_is_what_the_program_prints(doc, line, command, shown):
    actual = output(command)
    ok, missing = matches(shown, actual)
    assert ok, f"{doc}:{line} `{command}`: not printed by the program:\n{missing}\n--- it prints:\n" + "\n".join(actual)


def test_the_matcher_finds_drift():
    actual = ["a", "b", "c", "d"]
    assert matches(["a", "b", "...", "d"], actual)[0] and not matches(["a", "c"], actual)[0]
    assert not matches(["d", "...", "a"], actual)[0]  # in order


if __name__ == "__main__":
    for doc, line, command, _ in examples():
        print(f"=== {doc}:{line} $ {command}")
        print("\n".join(output(command)))
