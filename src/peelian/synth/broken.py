"""Deliberately broken rows: the few malformed lines every real extract holds.

Once the sources are written, a handful of extra physical lines are inserted
between the rows of each text source (the CSVs and the intelligence JSON
lines; a Parquet file can't hold a malformed row, so ANPR has none). They
replace nothing, so the real rows and their truth are unchanged, and
`truth/broken_rows.parquet` lists every one. An ingest must quarantine
exactly these lines and load everything else.

Each file is read as its mapping reads it (path, encoding, delimiter, record
id, marking), so a line is broken in the terms the ingest uses. A broken line
is a damaged copy of the row before it, with `-X` added to its reference so it
never carries the id of a real record; it never sits inside one record's rows
(a crime's nominals stay together).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import itertools
import json
import os
import random
import string
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import yaml

from peelian.synth.output import write_parquet
from peelian.synth.rand import py_rng, round_random

CSV_KINDS = ("wrong_column_count", "broken_quote", "undecodable", "empty_row")
JSONL_KINDS = ("bad_json", "not_an_object", "undecodable")
# The Government Protective Marking Scheme's levels, withdrawn in 2014 when the
# Government Security Classifications replaced them; old records still carry them.
WITHDRAWN_MARKINGS = ("RESTRICTED", "PROTECT", "CONFIDENTIAL")
# Text that passed through the wrong code page: Windows-1252 bytes in a UTF-8
# file (é, ë, ’, £) and UTF-8 bytes in a Windows-1252 file (Á, č, Ő), whose
# second bytes 0x81, 0x8D and 0x90 Windows-1252 leaves undefined.
UNDECODABLE = {
    "utf-8": (b"\xe9", b"\xeb", b"\x92", b"\xa3"),
    "cp1252": (b"\xc3\x81", b"\xc4\x8d", b"\xc5\x90"),
}
_SPOT = "\x7f"  # marks where the undecodable bytes go; no source value holds it
BROKEN_ROW_SCHEMA = pa.schema(
    [("source", pa.string()), ("file", pa.string()), ("line", pa.int64()), ("kind", pa.string())]
)


@dataclasses.dataclass(frozen=True)
class TextSource:
    """A CSV or JSON-lines source, as its mapping reads it."""

    name: str
    file: str  # relative to the output folder
    format: str  # csv | jsonl
    encoding: str
    delimiter: str
    quotechar: str
    id_fields: tuple[str, ...]
    marking: str | None  # the column (or top-level key) holding the security marking

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of breakage this source can hold."""
        kinds: tuple[str, ...] = CSV_KINDS if self.format == "csv" else JSONL_KINDS
        if self.marking:
            kinds += ("unknown_marking",)
        return tuple(k for k in kinds if k != "undecodable" or self.encoding in UNDECODABLE)


def text_sources(mappings: Path) -> list[TextSource]:
    """Every CSV and JSON-lines source named by the mapping files in `mappings`."""
    found = []
    for path in sorted(mappings.glob("*.yaml")):
        mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
        reader, record = mapping["reader"], mapping["record"]
        if reader["kind"] not in ("csv", "jsonl"):
            continue
        marking = record.get("marking") or {}
        found.append(
            TextSource(
                name=mapping["source"]["name"],
                # mapping paths are relative to the mappings folder; truth names files
                # relative to the force folder
                file=os.path.normpath(os.path.join("mappings", reader["path"])),
                format=reader["kind"],
                encoding=codecs.lookup(reader.get("encoding", "utf-8")).name,
                delimiter=reader.get("delimiter", ","),
                quotechar=reader.get("quotechar", '"'),
                id_fields=tuple(f for _, f, _, _ in string.Formatter().parse(record["id"]) if f),
                marking=marking.get("column") or marking.get("path"),
            )
        )
    return found


def break_rows(root: Path, seed: int, rate: float, min_per_source: int) -> dict[str, int]:
    """Insert broken lines into every text source under `root` and list them in the truth.

    About `rate` of each source's rows, and at least `min_per_source` (when
    `rate` is above zero). Returns the number of broken lines per file.
    """
    truth: dict[str, list[Any]] = {name: [] for name in BROKEN_ROW_SCHEMA.names}
    counts = {}
    for source in text_sources(root / "mappings"):
        rng = py_rng(seed, f"broken-rows:{source.name}")
        broken = _break_file(root / source.file, source, rate, min_per_source, rng)
        for line, kind in broken:
            truth["source"].append(source.name)
            truth["file"].append(source.file)
            truth["line"].append(line)
            truth["kind"].append(kind)
        counts[source.file] = len(broken)
    write_parquet(root / "truth" / "broken_rows.parquet", truth, schema=BROKEN_ROW_SCHEMA)
    return counts


def _break_file(
    path: Path, source: TextSource, rate: float, least: int, rng: random.Random
) -> list[tuple[int, str]]:
    header = 1 if source.format == "csv" else 0
    with open(path, "rb") as f:
        rows = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - header
    if rate <= 0 or rows < 2:
        return []
    count = min(max(least, round_random(rate * rows, rng)), rows - 1)
    after = set(rng.sample(range(1, rows), count))  # insert after these data rows
    # kinds dealt from shuffled decks: each kind once before any kind twice
    kinds: list[str] = []
    while len(kinds) < count:
        kinds += rng.sample(source.kinds, len(source.kinds))
    deal = iter(kinds)
    broken: list[tuple[int, str]] = []
    staged = path.with_name(path.name + ".breaking")
    with open(path, "rb") as src, open(staged, "wb") as out:
        columns = None
        if header:
            first = src.readline()
            out.write(first)
            columns = _fields(first, source)
        written, waiting, prev = header, 0, b""
        for row, line in enumerate(itertools.chain(src, [b""]), 1):  # b"": the end
            # a broken line goes between two records (or at the end), never inside one
            if waiting and (not line or _key(prev, columns, source) != _key(line, columns, source)):
                for _ in range(waiting):
                    written += 1
                    kind = _write_broken(out, next(deal), prev, columns, source, rng)
                    broken.append((written, kind))
                waiting = 0
            out.write(line)
            written += 1
            waiting += row in after
            prev = line
    staged.replace(path)
    return broken


def _write_broken(
    out: BinaryIO,
    kind: str,
    prev: bytes,
    columns: list[str] | None,
    source: TextSource,
    rng: random.Random,
) -> str:
    """Write a broken line of `kind` made from the row `prev`; return the kind written."""
    ref = source.id_fields[0]
    record = _record(prev, columns, source)
    record[ref] = f"{record[ref]}-X"
    if kind == "unknown_marking":
        assert source.marking is not None
        record[source.marking] = rng.choice(WITHDRAWN_MARKINGS)
    elif kind == "undecodable":
        # after a word (a name, a place, free text), where mis-encoded letters turn up
        words = [k for k, v in record.items() if isinstance(v, str) and any(map(str.isalpha, v))]
        record[rng.choice([k for k in words if k != ref] or [ref])] += _SPOT
    if source.format == "jsonl":
        text = json.dumps(record, ensure_ascii=False)
        if kind == "bad_json":  # the export stopped mid-object
            text = text[: rng.randrange(1, len(text) - 1)]
        elif kind == "not_an_object":  # a row exported as an array, or a bare value
            value = list(record.values()) if rng.random() < 0.5 else record[ref]
            text = json.dumps(value, ensure_ascii=False)
    else:
        cells = [_render([v], source) if v else "" for v in record.values()]
        if kind == "broken_quote" and not _misquotable(cells, source.quotechar):
            kind = "wrong_column_count"
        if kind == "wrong_column_count":  # cut off after a few whole fields
            cells = cells[: rng.randint(2, len(cells) - 1)]
        elif kind == "empty_row":
            cells = [""] * len(cells)
        elif kind == "broken_quote":
            cells = _misquote(cells, source.quotechar, rng)
        text = source.delimiter.join(cells)
    end = b"\r\n" if prev.endswith(b"\r\n") else b"\n"
    data = text.encode(source.encoding)
    if kind == "undecodable":
        data = data.replace(_SPOT.encode(), rng.choice(UNDECODABLE[source.encoding]), 1)
    out.write(data + end)
    return kind


def _misquote(cells: list[str], quote: str, rng: random.Random) -> list[str]:
    """Open a quote at one field and close it inside the next: `"A,B1"B2`.

    The line holds an even number of quotes, so a reader never runs on into the
    next line, but the fields no longer split: one column short, and a strict
    parser stops at the closing quote with no delimiter after it.
    """
    i = rng.choice(_misquotable(cells, quote))
    nxt = cells[i + 1]
    cut = rng.randrange(len(nxt))
    return [
        *cells[:i],
        quote + cells[i],
        nxt[:cut] + quote + nxt[cut:],
        *cells[i + 2 :],
    ]


def _misquotable(cells: list[str], quote: str) -> list[int]:
    """Fields that, with the one after them, can take a misplaced quote pair."""
    return [
        i
        for i in range(len(cells) - 1)
        if quote not in cells[i] and quote not in cells[i + 1] and cells[i + 1]
    ]


def _render(values: list[str], source: TextSource) -> str:
    buffer = io.StringIO()
    csv.writer(
        buffer, delimiter=source.delimiter, quotechar=source.quotechar, lineterminator=""
    ).writerow(values)
    return buffer.getvalue()


def _fields(line: bytes, source: TextSource) -> list[str]:
    text = line.decode(source.encoding).rstrip("\r\n")
    return next(csv.reader([text], delimiter=source.delimiter, quotechar=source.quotechar))


def _record(line: bytes, columns: list[str] | None, source: TextSource) -> dict[str, Any]:
    if columns is None:
        record: dict[str, Any] = json.loads(line)
        return record
    return dict(zip(columns, _fields(line, source), strict=True))


def _key(line: bytes, columns: list[str] | None, source: TextSource) -> tuple[Any, ...]:
    record = _record(line, columns, source)
    return tuple(record[f] for f in source.id_fields)
