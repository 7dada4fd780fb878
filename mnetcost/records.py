"""Reading a user's CSV of records (measurements, device profiles): every problem is one TableError
naming the file and line, never a traceback; the file's size is bounded."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .errors import TableError, UsageError

MAX_BYTES = 8 << 20
MAX_RECORDS = 100_000


def read_records(path, required: tuple, optional: tuple, what: str) -> list[tuple[int, dict]]:
    """(line, {column: text}) for each non-blank record of the CSV at ``path``; ``#`` lines before
    the header are comments."""
    try:
        p = Path(str(path)).expanduser()
        if not p.is_file():
            raise UsageError(f"no {what} file at {str(path)!r:.300}")
        if p.stat().st_size > MAX_BYTES:
            raise TableError(f"{p.name}: larger than {MAX_BYTES >> 20} MB; a {what} file is a small CSV")
        raw = p.read_bytes()
    except (OSError, RuntimeError, ValueError) as e:
        raise UsageError(f"cannot read the {what} file {str(path)!r:.300}: {getattr(e, 'strerror', None) or e}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TableError(f"{p.name}: not UTF-8 text; a {what} file is a CSV") from None
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if any(ord(ch) < 32 and ch != "\t" or 127 <= ord(ch) < 160 for ch in line):
            raise TableError(f"{p.name}, line {number}: a control character, which a {what} file never holds")
    skip = 0
    while skip < len(lines) and (lines[skip].startswith("#") or not lines[skip].strip()):
        skip += 1
    reader = csv.reader(io.StringIO("\n".join(lines[skip:])))
    try:
        header = [h.strip() for h in next(reader, [])]
        records = []
        end = reader.line_num
        for fields in reader:
            start, end = end + 1, reader.line_num
            if not any(f.strip() for f in fields):
                continue
            line = skip + start
            if len(fields) != len(header):
                raise TableError(f"{p.name}, line {line}: {len(fields)} fields, "
                                 f"{'more' if len(fields) > len(header) else 'fewer'} than the header's {len(header)}"
                                 " (a field left empty is still written, between its commas)")
            records.append((line, {k: v.strip() for k, v in zip(header, fields)}))
            if len(records) > MAX_RECORDS:
                raise TableError(f"{p.name}: more than {MAX_RECORDS:,} records")
    except csv.Error as e:
        raise TableError(f"{p.name}, line {skip + reader.line_num}: {e}") from None
    if not header or header == [""]:
        raise TableError(f"{p.name}: no header row; a {what} file starts with one ({', '.join(required)}, ...)")
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    missing = [c for c in required if c not in header]
    unknown = [c for c in header if c not in required + optional]
    for problem, names in (("repeated", repeated), ("missing", missing), ("unknown", unknown)):
        if names:
            raise TableError(f"{p.name}: {problem} column(s) {', '.join(names)} (a {what} file has "
                             f"{', '.join(required)}; optionally {', '.join(optional)})")
    if not records:
        raise TableError(f"{p.name}: a header and no records")
    return records


def number(text: str, where: str, column: str, *, positive=True, allow_inf=False) -> float:
    """A finite number from a CSV cell (``inf`` where allowed), or a TableError naming the cell."""
    import math

    try:
        value = float(text)
    except (TypeError, ValueError):
        raise TableError(f"{where}, column {column}: not a number, got {text!r:.60}") from None
    if math.isnan(value) or (math.isinf(value) and not allow_inf) or (positive and value <= 0) or value < 0:
        raise TableError(f"{where}, column {column}: must be a {'positive' if positive else 'non-negative'} "
                         f"{'number or inf' if allow_inf else 'finite number'}, got {text!r:.60}")
    return value
