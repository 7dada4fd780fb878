"""Results kept on disk between runs, for the commands whose answer depends on nothing but the installed package:
``reference`` (358 published figures, 55 expansions of 31 tables: 0.15 s) and ``models`` (34 tables: 0.1 s).

A result is stored under its name, its arguments and the package's stamp: the path, size and modification time
of every file of the package and of its shipped tables (what Python's own bytecode cache checks of a source), so
an edited table or a new version computes afresh. A value is returned as it reads back from JSON whether it was
stored just now or long ago, so a run gives the same answer with or without the cache. A file that cannot be
read is computed again and a folder that cannot be written is left alone: the cache only ever saves time.

``MNETCOST_CACHE=off`` turns it off; ``MNETCOST_CACHE=DIR`` keeps it in DIR; by default it is
``$XDG_CACHE_HOME/mnetcost`` (``~/.cache/mnetcost``)."""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

KEEP = 64  # files of mnetcost's the folder keeps: the oldest go first (each is a few kB)
PREFIX = "mnetcost-"  # every file mnetcost keeps is named so; no other file of the folder is ever touched


def folder() -> Path | None:
    """Where results are kept (None: nowhere)."""
    setting = os.environ.get("MNETCOST_CACHE", "")
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    if setting:
        return Path(os.path.expanduser(setting))
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(home) / "mnetcost" if os.path.isabs(home) else None  # no home: nowhere, never the working folder


@lru_cache(maxsize=1)
def stamp() -> str:
    """The package's stamp: every file of the package and of its tables, by path, size and modification time."""
    import sys

    from . import __version__
    from .tables import tables_dir

    entries = [__version__, sys.version]
    for root in dict.fromkeys((Path(__file__).resolve().parent, tables_dir())):
        for dirpath, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                try:
                    st = os.stat(os.path.join(dirpath, name))
                except OSError:  # a dangling link (an editor's lock file): no file to stamp
                    continue
                entries.append(f"{os.path.relpath(dirpath, root)}/{name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def stored(name: str, args, compute, valid=lambda value: True):
    """``compute()`` as it reads back from JSON, kept under ``name`` and ``args`` (JSON values) for the next run;
    a kept value that ``valid`` refuses is computed again."""
    where = folder()
    try:
        key = hashlib.sha256(json.dumps([name, args, stamp()]).encode()).hexdigest()[:32]
    except (OSError, TypeError, ValueError):  # the package cannot be stamped, or the arguments written: not kept
        where = None
    if where is None:
        return _read_back(compute())
    path = where / f"{PREFIX}{name}-{key}.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        if valid(value):
            return value
    except Exception:  # missing, unreadable, truncated or of another shape: computed again, never an error
        pass
    text = json.dumps(compute())
    _write(where, path, text)
    return json.loads(text)


def _read_back(value):
    return json.loads(json.dumps(value))


def _write(where: Path, path: Path, text: str) -> None:
    """Write atomically (another run may read at the same moment), keeping the folder's newest ``KEEP`` files;
    any failure leaves the cache as it was."""
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        where.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
        kept = sorted(where.glob(f"{PREFIX}*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in kept[KEEP:]:
            old.unlink()
    except OSError:
        try:
            temporary.unlink()
        except OSError:
            pass
