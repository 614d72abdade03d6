"""Readers: turn a source (CSV, JSON lines, Parquet, SQL) into Arrow batches.

A reader never fails a whole source because of one bad row. Every record it
finds comes out either in a batch or as a `RejectedRow` with its raw content,
position and a reason code, so the ingest can prove that
count in = records out + quarantined. Whole-source problems (a missing file,
a binary file, a database that times out) raise `SourceError` before anything
is written.

Each batch is a `pa.Table` whose columns are named as the mapping names them
(CSV/SQL/Parquet column names; JSON paths) plus these positional columns:

- `_file`: the file the row came from (name relative to the mapping folder);
- `_row`: 1-based record number within the file (rejected rows count too);
- `_line`: physical line the record starts on (CSV/JSON lines; null otherwise);
- `_raw`: the record's raw text (used for the content hash and quarantine).

Memory is bounded by the batch size and `max_line_bytes`, never by the file.
"""

from __future__ import annotations

import csv
import glob
import gzip
import json
import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

RAW_SAMPLE_CHARS = 4096  # how much of an over-long or binary line quarantine keeps
_SNIFF_BYTES = 8192


class SourceError(Exception):
    """The source as a whole can't be read (nothing is written to the hub)."""


@dataclass(frozen=True)
class RejectedRow:
    """A record the reader could not turn into columns."""

    file: str
    row: int
    line: int | None
    raw: str
    reason: str
    detail: str


@dataclass
class RawBatch:
    """Up to `batch_rows` records, plus the rejects met while reading them.

    `elements` holds, for JSON `each` lists, one exploded table per list path:
    a row per list element with `_parent` (row index in `table`), `_element`
    (0-based index in the list) and the element's sub-paths as columns.
    """

    table: pa.Table
    rejects: list[RejectedRow] = field(default_factory=list)
    elements: dict[str, pa.Table] = field(default_factory=dict)


@dataclass(frozen=True)
class ReadPlan:
    """What the mapping needs from a source: which values, which lists."""

    values: frozenset[str]
    lists: dict[str, frozenset[str]]


@dataclass(frozen=True)
class SourceFile:
    path: Path
    name: str  # as shown to users and kept in provenance
    modified: datetime


def resolve_files(pattern: str, base_dir: Path) -> list[SourceFile]:
    """Files matching `pattern` (a path or glob, relative to `base_dir`), sorted."""
    full = pattern if Path(pattern).is_absolute() else str(base_dir / pattern)
    matches = sorted(glob.glob(full)) if glob.has_magic(full) else [full]
    files = []
    for match in matches:
        path = Path(match)
        if not path.is_file():
            raise SourceError(f"{pattern}: no such file ({path})")
        try:
            name = str(path.relative_to(base_dir))
        except ValueError:  # outside the mapping's folder: the name alone, not the machine path
            name = path.name
        modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        files.append(SourceFile(path, name, modified))
    if not files:
        raise SourceError(f"{pattern}: no file matches (looked in {base_dir})")
    return files


def _open_binary(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _refuse_binary(path: Path, name: str, encoding: str, kind: str) -> None:
    if encoding.lower().replace("-", "").startswith("utf16"):
        return
    try:
        with _open_binary(path) as handle:
            head = handle.read(_SNIFF_BYTES)
    except (OSError, EOFError) as exc:
        raise SourceError(f"{name}: can't read the file: {exc}") from exc
    if b"\x00" in head:
        raise SourceError(
            f"{name}: this looks like a binary file (it contains NUL bytes), "
            f"not {kind} text in {encoding}; check the path in the mapping"
        )


def physical_lines(handle: IO[bytes], max_line_bytes: int) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes, too_long) for each physical line.

    A line longer than `max_line_bytes` is drained in chunks without being
    held in memory; only its first bytes are returned, flagged too long.
    """
    number = 0
    readline = handle.readline
    while True:
        try:
            line = readline(max_line_bytes + 1)
        except (OSError, EOFError) as exc:  # truncated gzip, I/O error
            raise SourceError(f"read failed after line {number}: {exc}") from exc
        if not line:
            return
        number += 1
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            head = line[:RAW_SAMPLE_CHARS]
            while True:
                chunk = readline(1 << 20)
                if not chunk or chunk.endswith(b"\n"):
                    break
            yield number, head, True
        else:
            yield number, line, False


def _sample(data: bytes) -> str:
    return data[:RAW_SAMPLE_CHARS].decode("utf-8", errors="backslashreplace").rstrip("\r\n")


class _Batcher:
    """Collects accepted rows and rejects, emitting `RawBatch`es."""

    def __init__(self, batch_rows: int) -> None:
        self.batch_rows = batch_rows
        self.rows: list[Any] = []
        self.rows_meta: list[tuple[int, int | None, str]] = []
        self.rejects: list[RejectedRow] = []

    def full(self) -> bool:
        return len(self.rows) >= self.batch_rows or len(self.rejects) >= self.batch_rows


def _string_column(values: Sequence[str | None]) -> pa.Array:
    array = pa.array(values, type=pa.string())
    # An empty cell is a missing value.
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)


def _positions(file: str, meta: list[tuple[int, int | None, str]]) -> dict[str, pa.Array]:
    return {
        "_file": pa.array([file] * len(meta), type=pa.string()),
        "_row": pa.array([m[0] for m in meta], type=pa.int64()),
        "_line": pa.array([m[1] for m in meta], type=pa.int64()),
        "_raw": pa.array([m[2] for m in meta], type=pa.string()),
    }


# --------------------------------------------------------------------- CSV


def read_csv(
    spec: dict[str, Any], base_dir: Path, batch_rows: int
) -> tuple[list[str], Iterator[RawBatch]]:
    """Header columns (of the first file) and the batches of every file."""
    files = resolve_files(spec["path"], base_dir)
    encoding = spec.get("encoding", "utf-8")
    for source_file in files:
        _refuse_binary(source_file.path, source_file.name, encoding, "CSV")
    header_columns = _csv_header(files[0], spec)
    return header_columns, _csv_batches(files, spec, header_columns, batch_rows)


def _csv_dialect(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "delimiter": spec.get("delimiter", ","),
        "quotechar": spec.get("quotechar", '"'),
        "doublequote": True,
        "strict": True,  # a quote in the wrong place is a broken row, not data
    }


def _csv_header(source_file: SourceFile, spec: dict[str, Any]) -> list[str]:
    if not spec.get("header", True):
        columns = list(spec.get("columns") or [])
        if not columns:
            raise SourceError(f"{source_file.name}: header is false but no columns are named")
        return columns
    encoding = spec.get("encoding", "utf-8")
    with _open_binary(source_file.path) as handle:
        for _number, data, too_long in physical_lines(handle, spec.get("max_line_bytes", 1 << 24)):
            if too_long:
                raise SourceError(f"{source_file.name}: the header line is too long")
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise SourceError(
                    f"{source_file.name}: the header line is not valid {encoding}: {exc.reason}"
                ) from exc
            if text.strip() == "":
                continue
            text = text.removeprefix("\ufeff")
            columns = next(csv.reader([text], **_csv_dialect(spec)))
            columns = [c.strip() for c in columns]
            duplicates = sorted({c for c in columns if columns.count(c) > 1})
            if duplicates:
                raise SourceError(
                    f"{source_file.name}: the header names {', '.join(duplicates)} more than once"
                )
            return columns
    raise SourceError(f"{source_file.name}: the file is empty (no header line)")


def _csv_records(
    lines: Iterator[tuple[int, bytes, bool]],
    encoding: str,
    quotechar: str,
    max_record_lines: int,
) -> Iterator[tuple[int, str | None, str, str]]:
    """(start line, record text or None, reason, detail) per record.

    A quoted field may span lines; a record is complete when its count of
    quote characters is even. One that stays open for more than
    `max_record_lines` lines (or to the end of the file) is a broken quote:
    its first line is rejected and reading resumes on the next line, so one
    stray quote never swallows the rest of the file.
    """
    pushback: deque[tuple[int, bytes, bool]] = deque()
    pending: list[tuple[int, str]] = []
    quotes = 0

    def next_line() -> tuple[int, bytes, bool] | None:
        if pushback:
            return pushback.popleft()
        return next(lines, None)

    while True:
        item = next_line()
        if item is None:
            if pending:
                first = pending[0]
                yield first[0], None, "broken_quote", "a quoted field is never closed"
                for number, text in reversed(pending[1:]):
                    pushback.appendleft((number, text.encode(encoding), False))
                pending, quotes = [], 0
                continue
            return
        number, data, too_long = item
        if too_long:
            if pending:  # an over-long line inside an open quote: give up the quote
                yield pending[0][0], None, "broken_quote", "a quoted field is never closed"
                for n, text in reversed(pending[1:]):
                    pushback.appendleft((n, text.encode(encoding), False))
                pushback.append(item)
                pending, quotes = [], 0
                continue
            yield number, None, "line_too_long", _sample(data)
            continue
        if b"\x00" in data:
            yield number, None, "binary_content", _sample(data)
            continue
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            yield (
                number,
                None,
                "undecodable",
                f"{_sample(data)}\x00{exc.reason} at byte {exc.start}",
            )
            continue
        count = text.count(quotechar)
        if not pending:
            if count % 2 == 0:
                yield number, text, "", ""
                continue
            pending, quotes = [(number, text)], count
            continue
        pending.append((number, text))
        quotes += count
        if quotes % 2 == 0:
            yield pending[0][0], "".join(t for _, t in pending), "", ""
            pending, quotes = [], 0
        elif len(pending) > max_record_lines:
            yield (
                pending[0][0],
                None,
                "broken_quote",
                (f"a quoted field is still open after {max_record_lines} lines"),
            )
            for n, t in reversed(pending[1:]):
                pushback.appendleft((n, t.encode(encoding), False))
            pending, quotes = [], 0


class _OneRecord:
    """An iterator that hands the CSV parser the current record, once."""

    text: str | None = None

    def __iter__(self) -> _OneRecord:
        return self

    def __next__(self) -> str:
        text, self.text = self.text, None
        if text is None:
            raise StopIteration
        return text


def _csv_batches(
    files: list[SourceFile], spec: dict[str, Any], columns: list[str], batch_rows: int
) -> Iterator[RawBatch]:
    encoding = spec.get("encoding", "utf-8")
    dialect = _csv_dialect(spec)
    max_line = int(spec.get("max_line_bytes", 1 << 24))
    max_lines = int(spec.get("max_record_lines", 100))
    width = len(columns)
    # One parser for the whole source, fed one record at a time.
    feed = _OneRecord()
    parser = csv.reader(feed, **dialect)
    for source_file in files:
        batcher = _Batcher(batch_rows)
        header_pending = bool(spec.get("header", True))
        row_number = 0
        with _open_binary(source_file.path) as handle:
            records = _csv_records(
                physical_lines(handle, max_line), encoding, dialect["quotechar"], max_lines
            )
            for start, text, reason, detail in records:
                if text is not None and text.strip() == "":
                    continue  # a blank line holds no record
                if header_pending and text is not None:
                    header_pending = False
                    continue
                row_number += 1
                if text is None:
                    raw, _, why = detail.partition("\x00")
                    batcher.rejects.append(
                        RejectedRow(source_file.name, row_number, start, raw, reason, why or detail)
                    )
                else:
                    raw = text.rstrip("\r\n")
                    feed.text = text
                    try:
                        values = next(parser)
                    except (csv.Error, StopIteration) as exc:
                        reason, why = "broken_quote", f"the quoting of the row is broken: {exc}"
                    else:
                        if len(values) == width:
                            batcher.rows.append(values)
                            batcher.rows_meta.append((row_number, start, raw))
                            reason = ""
                        else:
                            reason = "wrong_column_count"
                            why = f"{len(values)} fields where the header has {width}"
                    if reason:
                        batcher.rejects.append(
                            RejectedRow(source_file.name, row_number, start, raw, reason, why)
                        )
                if batcher.full():
                    yield _csv_flush(batcher, columns, source_file.name)
        if batcher.rows or batcher.rejects:
            yield _csv_flush(batcher, columns, source_file.name)


def _csv_flush(batcher: _Batcher, columns: list[str], file: str) -> RawBatch:
    rows = batcher.rows
    arrays: dict[str, pa.Array] = {}
    if rows:
        for name, values in zip(columns, zip(*rows, strict=True), strict=True):
            arrays[name] = _string_column(values)
    else:
        for name in columns:
            arrays[name] = pa.array([], type=pa.string())
    arrays.update(_positions(file, batcher.rows_meta))
    batch = RawBatch(pa.table(arrays), batcher.rejects)
    batcher.rows, batcher.rows_meta, batcher.rejects = [], [], []
    return batch


# -------------------------------------------------------------- JSON lines

_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d*)\]")


def parse_path(path: str) -> list[str | int]:
    """`subjects[0].surname` -> ["subjects", 0, "surname"]; `[]` -> -1 (every element)."""
    parts: list[str | int] = []
    for name, index in _PATH_TOKEN.findall(path):
        if name:
            parts.append(name)
        else:
            parts.append(int(index) if index else -1)
    return parts


def get_path(obj: Any, parts: Sequence[str | int]) -> Any:
    for part in parts:
        if isinstance(part, int):
            if not isinstance(obj, list) or part >= len(obj) or part < 0:
                return None
            obj = obj[part]
        else:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(part)
        if obj is None:
            return None
    return obj


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def json_paths(obj: Any, prefix: str = "") -> Iterator[str]:
    """Generic leaf paths of a JSON value (`subjects[].surname`)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from json_paths(value, f"{prefix}.{key}" if prefix else key)
    elif isinstance(obj, list):
        if not obj:
            yield prefix
        for item in obj:
            yield from json_paths(item, f"{prefix}[]")
    else:
        yield prefix


def read_jsonl(
    spec: dict[str, Any], base_dir: Path, plan: ReadPlan, batch_rows: int
) -> tuple[set[str], Iterator[RawBatch]]:
    """Paths seen in the first objects (for the unmapped check) and the batches."""
    files = resolve_files(spec["path"], base_dir)
    encoding = spec.get("encoding", "utf-8")
    for source_file in files:
        _refuse_binary(source_file.path, source_file.name, encoding, "JSON lines")
    seen = _sniff_json_paths(files[0], encoding, int(spec.get("max_line_bytes", 1 << 24)))
    return seen, _jsonl_batches(files, spec, plan, batch_rows)


def _sniff_json_paths(source_file: SourceFile, encoding: str, max_line: int) -> set[str]:
    seen: set[str] = set()
    with _open_binary(source_file.path) as handle:
        for count, (_number, data, too_long) in enumerate(physical_lines(handle, max_line)):
            if count >= 2000:
                break
            if too_long:
                continue
            try:
                obj = json.loads(data.decode(encoding))
            except (UnicodeDecodeError, ValueError):
                continue
            if isinstance(obj, dict):
                seen.update(json_paths(obj))
    return seen


def _jsonl_batches(
    files: list[SourceFile], spec: dict[str, Any], plan: ReadPlan, batch_rows: int
) -> Iterator[RawBatch]:
    encoding = spec.get("encoding", "utf-8")
    max_line = int(spec.get("max_line_bytes", 1 << 24))
    value_paths = sorted(plan.values)
    parsed_values = [parse_path(p) for p in value_paths]
    list_paths = {p: (parse_path(p), sorted(subs)) for p, subs in plan.lists.items()}
    for source_file in files:
        batcher = _Batcher(batch_rows)
        row_number = 0
        with _open_binary(source_file.path) as handle:
            for number, data, too_long in physical_lines(handle, max_line):
                if not too_long and data.strip() == b"":
                    continue
                row_number += 1
                reject = _json_reject(data, too_long, encoding)
                if isinstance(reject, tuple):
                    raw, reason, detail = reject
                    batcher.rejects.append(
                        RejectedRow(source_file.name, row_number, number, raw, reason, detail)
                    )
                else:
                    raw_text, obj = reject.text, reject.obj
                    batcher.rows.append(obj)
                    batcher.rows_meta.append((row_number, number, raw_text))
                if batcher.full():
                    yield _json_flush(batcher, value_paths, parsed_values, list_paths, source_file)
        if batcher.rows or batcher.rejects:
            yield _json_flush(batcher, value_paths, parsed_values, list_paths, source_file)


@dataclass(frozen=True)
class _JsonRow:
    text: str
    obj: dict[str, Any]


def _json_reject(data: bytes, too_long: bool, encoding: str) -> _JsonRow | tuple[str, str, str]:
    if too_long:
        return _sample(data), "line_too_long", "the line is longer than max_line_bytes"
    if b"\x00" in data:
        return _sample(data), "binary_content", "the line contains NUL bytes"
    try:
        text = data.decode(encoding).rstrip("\r\n")
    except UnicodeDecodeError as exc:
        return _sample(data), "undecodable", f"not valid {encoding}: {exc.reason}"
    try:
        obj = json.loads(text)
    except ValueError as exc:
        return text, "bad_json", str(exc)
    if not isinstance(obj, dict):
        return text, "not_an_object", f"a JSON {type(obj).__name__}, not an object"
    return _JsonRow(text, obj)


def _json_flush(
    batcher: _Batcher,
    value_paths: list[str],
    parsed_values: list[list[str | int]],
    list_paths: dict[str, tuple[list[str | int], list[str]]],
    source_file: SourceFile,
) -> RawBatch:
    objs = batcher.rows
    arrays: dict[str, pa.Array] = {}
    for path, parts in zip(value_paths, parsed_values, strict=True):
        arrays[path] = _string_column([_as_text(get_path(o, parts)) for o in objs])
    arrays.update(_positions(source_file.name, batcher.rows_meta))
    elements: dict[str, pa.Table] = {}
    for list_path, (parts, subpaths) in list_paths.items():
        parents: list[int] = []
        indexes: list[int] = []
        items: list[Any] = []
        for parent, obj in enumerate(objs):
            value = get_path(obj, parts)
            if isinstance(value, list):
                for index, item in enumerate(value):
                    parents.append(parent)
                    indexes.append(index)
                    items.append(item)
        columns: dict[str, pa.Array] = {
            "_parent": pa.array(parents, type=pa.int64()),
            "_element": pa.array(indexes, type=pa.int64()),
        }
        for sub in subpaths:
            sub_parts = parse_path(sub)
            columns[sub] = _string_column([_as_text(get_path(i, sub_parts)) for i in items])
        elements[list_path] = pa.table(columns)
    batch = RawBatch(pa.table(arrays), batcher.rejects, elements)
    batcher.rows, batcher.rows_meta, batcher.rejects = [], [], []
    return batch


# ----------------------------------------------------------------- Parquet


def read_parquet(
    spec: dict[str, Any], base_dir: Path, batch_rows: int
) -> tuple[list[str], Iterator[RawBatch]]:
    files = resolve_files(spec["path"], base_dir)
    schemas = []
    for source_file in files:
        try:
            schemas.append(pq.read_schema(source_file.path))
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(f"{source_file.name}: not a readable Parquet file: {exc}") from exc
    return list(schemas[0].names), _parquet_batches(files, batch_rows)


def _raw_text(table: pa.Table) -> pa.Array:
    """One text per row: the values joined by a unit separator (for hashing)."""
    parts = []
    for column in table.columns:
        text = column.cast(pa.string()) if column.type != pa.string() else column
        parts.append(pc.fill_null(text, ""))
    if not parts:
        return pa.array([""] * table.num_rows, type=pa.string())
    return pc.binary_join_element_wise(*parts, "\x1f")


def _parquet_batches(files: list[SourceFile], batch_rows: int) -> Iterator[RawBatch]:
    for source_file in files:
        row = 0
        try:
            parquet = pq.ParquetFile(source_file.path)
            for record_batch in parquet.iter_batches(batch_size=batch_rows):
                table = pa.Table.from_batches([record_batch])
                count = table.num_rows
                table = _with_positions(table, source_file.name, row, _raw_text(table))
                row += count
                yield RawBatch(table)
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(f"{source_file.name}: Parquet read failed: {exc}") from exc


def _with_positions(table: pa.Table, file: str, start: int, raw: pa.Array) -> pa.Table:
    count = table.num_rows
    table = table.append_column("_file", pa.array([file] * count, type=pa.string()))
    table = table.append_column("_row", pa.array(range(start + 1, start + count + 1), pa.int64()))
    table = table.append_column("_line", pa.nulls(count, type=pa.int64()))
    return table.append_column("_raw", raw)


# --------------------------------------------------------------------- SQL


def read_sql(spec: dict[str, Any], batch_rows: int) -> tuple[list[str], Iterator[RawBatch]]:
    """Rows of `spec["query"]` through SQLAlchemy, streamed in batches.

    `timeout_s` bounds the whole query: on PostgreSQL it is sent as the
    session's statement_timeout; elsewhere it is not enforced (documented).
    """
    import sqlalchemy as sa

    url = spec["url"]
    timeout_s = float(spec.get("timeout_s", 300))
    safe_url = _hide_password(url)
    try:
        engine = sa.create_engine(url, pool_pre_ping=False)
    except (sa.exc.ArgumentError, ImportError, sa.exc.NoSuchModuleError) as exc:
        raise SourceError(f"SQL source {safe_url}: not a usable database URL: {exc}") from exc
    try:
        connection = engine.connect()
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise SourceError(f"SQL source {safe_url}: can't connect: {_first_line(exc)}") from exc
    try:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SET statement_timeout = {int(timeout_s * 1000)}")
            connection.exec_driver_sql("SET default_transaction_read_only = on")
        result = connection.execution_options(stream_results=True).execute(sa.text(spec["query"]))
        columns = list(result.keys())
    except sa.exc.SQLAlchemyError as exc:
        connection.close()
        engine.dispose()
        raise SourceError(_sql_failure(safe_url, exc, timeout_s)) from exc
    return columns, _sql_batches(
        engine, connection, result, columns, batch_rows, safe_url, timeout_s
    )


def _sql_batches(
    engine: Any,
    connection: Any,
    result: Any,
    columns: list[str],
    batch_rows: int,
    safe_url: str,
    timeout_s: float,
) -> Iterator[RawBatch]:
    import sqlalchemy as sa

    row = 0
    try:
        while True:
            try:
                rows = result.fetchmany(batch_rows)
            except sa.exc.SQLAlchemyError as exc:
                raise SourceError(_sql_failure(safe_url, exc, timeout_s)) from exc
            if not rows:
                return
            table = pa.table(
                {name: _sql_column([r[i] for r in rows]) for i, name in enumerate(columns)}
            )
            count = table.num_rows
            yield RawBatch(_with_positions(table, "query", row, _raw_text(table)))
            row += count
    finally:
        connection.close()
        engine.dispose()


def _sql_column(values: list[Any]) -> pa.Array:
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = pa.array([None if v is None else str(v) for v in values], type=pa.string())
    if pa.types.is_null(array.type):
        return array.cast(pa.string())
    if pa.types.is_decimal(array.type):
        return array.cast(pa.float64())
    if pa.types.is_string(array.type):
        return pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)
    return array


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _sql_failure(safe_url: str, exc: BaseException, timeout_s: float) -> str:
    text = _first_line(exc)
    if "statement timeout" in str(exc) or "canceling statement" in str(exc):
        return (
            f"SQL source {safe_url}: the query ran longer than timeout_s={timeout_s:g} s "
            "and was cancelled; nothing from it was written. Raise timeout_s in the mapping "
            "or ask the database owner for an index or a narrower query."
        )
    return f"SQL source {safe_url}: the query failed: {text}"


__all__ = [
    "RawBatch",
    "ReadPlan",
    "RejectedRow",
    "SourceError",
    "SourceFile",
    "get_path",
    "json_paths",
    "parse_path",
    "physical_lines",
    "read_csv",
    "read_jsonl",
    "read_parquet",
    "read_sql",
    "resolve_files",
]
