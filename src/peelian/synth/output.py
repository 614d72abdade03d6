"""Writers for source extracts and ground truth, and the all-or-nothing output folder."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq


class OutputError(Exception):
    """The output folder can't be used as asked."""


class CsvSink:
    """Rows to a CSV file in a source's own dialect (delimiter, encoding, quoting)."""

    def __init__(
        self,
        path: Path,
        columns: Sequence[str],
        *,
        delimiter: str = ",",
        encoding: str = "utf-8",
        quoting: Literal[0, 1, 2, 3] = csv.QUOTE_MINIMAL,
        line_end: str = "\r\n",
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.columns = list(columns)
        # errors="replace" never happens for utf-8; for legacy encodings we fold first
        self._file = open(path, "w", encoding=encoding, newline="", errors="strict")  # noqa: SIM115
        self._writer = csv.writer(
            self._file, delimiter=delimiter, quoting=quoting, lineterminator=line_end
        )
        self._writer.writerow(self.columns)
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow(["" if row.get(c) is None else row.get(c) for c in self.columns])
        self.rows += 1

    def close(self) -> None:
        self._file.close()


class JsonlSink:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        self._file.write(json.dumps(row, ensure_ascii=False, sort_keys=False))
        self._file.write("\n")
        self.rows += 1

    def close(self) -> None:
        self._file.close()


class ParquetSink:
    """Rows buffered into columns and written as row groups: memory stays flat."""

    def __init__(self, path: Path, schema: pa.Schema, batch_rows: int = 200_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.schema = schema
        self.batch_rows = batch_rows
        self._writer = pq.ParquetWriter(str(path), schema, compression="zstd")
        self._buffer: dict[str, list[Any]] = {f.name: [] for f in schema}
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        for name, values in self._buffer.items():
            values.append(row.get(name))
        self.rows += 1
        if len(next(iter(self._buffer.values()))) >= self.batch_rows:
            self.flush()

    def write_columns(self, columns: dict[str, Any]) -> None:
        """Append whole columns at once (for vectorised generators)."""
        table = pa.table(columns, schema=self.schema)
        self.flush()
        self._writer.write_table(table)
        self.rows += table.num_rows

    def flush(self) -> None:
        if not next(iter(self._buffer.values())):
            return
        self._writer.write_table(pa.table(self._buffer, schema=self.schema))
        self._buffer = {f.name: [] for f in self.schema}

    def close(self) -> None:
        self.flush()
        self._writer.close()


MENTION_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("record_id", pa.string()),
        ("slot", pa.string()),
        ("entity_type", pa.string()),
        ("entity_id", pa.string()),
        ("noise", pa.string()),
    ]
)


class Truth:
    """Ground truth for every mention: which real entity a source value is about."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mentions = ParquetSink(root / "mentions.parquet", MENTION_SCHEMA)

    def mention(
        self,
        source: str,
        record_id: str,
        slot: str,
        entity_type: str,
        entity_id: str,
        noise: Sequence[str] = (),
    ) -> None:
        self.mentions.write(
            {
                "source": source,
                "record_id": record_id,
                "slot": slot,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "noise": ";".join(noise),
            }
        )

    def close(self) -> None:
        self.mentions.close()


def write_parquet(path: Path, columns: dict[str, Any], schema: pa.Schema | None = None) -> int:
    """Write `columns` as one Parquet file; `schema` types them even when empty."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(columns, schema=schema)
    pq.write_table(table, str(path), compression="zstd")
    return int(table.num_rows)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(data, f, indent=2, ensure_ascii=False, sort_keys=True)
        f.write("\n")


def check_output_dir(out: Path, force: bool) -> None:
    """Refuse an output folder that would lose someone's data, before any work."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder; choose another --out")
    if out.exists() and any(out.iterdir()) and not force:
        raise OutputError(f"{out} is not empty; use --force to replace it, or choose another --out")
    parent = out.resolve().parent
    if not parent.exists():
        raise OutputError(f"{parent} does not exist; create it first or choose another --out")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write to {parent}; choose a folder you can write to")


@contextlib.contextmanager
def staged_dir(out: Path, force: bool) -> Iterator[Path]:
    """Build into a hidden sibling folder; swap it into place only when complete.

    If anything fails, the half-built folder is removed and `out` is untouched.
    """
    check_output_dir(out, force)
    parent = out.resolve().parent
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=parent))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
    stage.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def file_digest(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
