"""Snapshots: the Tantivy index of the hub and a frozen copy of the hub's database,
built together and switched to together.

    HUB/index/
      CURRENT                  the name of the snapshot served (replaced atomically)
      <build>/                 one Tantivy index per build, never changed once written
        peelian-index.json     what it was built from, when, with how many documents
    HUB/snapshots/
      <build>/hub.duckdb       the hub database as the build read it, never changed

The stages (ingest, resolve, extract, analyse) write `HUB/hub.duckdb`; a server
never opens that file, so they can run while it serves. A build writes a new index
folder beside the current one and a copy of the database it indexed, and once both
are complete and on disk, replaces `CURRENT` with one `os.replace`: a reader opens
either the old snapshot or the new one, never half of one, and never an index of one
database beside another. An interrupted build leaves folders `CURRENT` does not name,
removed by the next build. The snapshot before the current one is kept (a server may
still be answering from it while it switches, and it is a rollback).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import tantivy

from peelian.hub import HUB_FILE
from peelian.index.documents import entity_groups, index_document, text_document, text_rows
from peelian.resolve.explain import latest_run

INDEX_DIR = "index"
SNAPSHOTS_DIR = "snapshots"
CURRENT = "CURRENT"
META = "peelian-index.json"
FORMAT = 4
# The stored-only fields (what a result shows) are indexed with no terms.
NO_TERMS = "peelian_no_terms"
WRITER_HEAP = 512_000_000

# Keyword fields: whole values, one term each (raw tokenizer), no positions.
KEYWORDS = (
    "kind",
    "label",
    "forename",
    "fcanon",
    "fph",
    "surname",
    "sph",
    "alias",
    "fullname",
    "fullcanon",
    "dob",
    "postcode",
    "phone",
    "ident",
    "vrm",
    "vrmkey",
    "ref",
)


class SearchIndexError(Exception):
    """The index is missing, unreadable or from an incompatible build."""


def schema() -> tantivy.Schema:
    """The one schema every build and search uses (see `documents.index_document`)."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, fast=True, tokenizer_name="raw", index_option="basic")
    for name in KEYWORDS:
        builder.add_text_field(
            name, fast=name == "kind", tokenizer_name="raw", index_option="basic"
        )
    builder.add_text_field("area", fast=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("words", tokenizer_name="default", index_option="freq")
    builder.add_text_field("text", stored=True, tokenizer_name="en_stem", index_option="position")
    builder.add_text_field("show", stored=True, tokenizer_name=NO_TERMS, index_option="basic")
    builder.add_integer_field("seen_first", indexed=True, fast=True)
    builder.add_integer_field("seen_last", indexed=True, fast=True)
    builder.add_integer_field("mentions", fast=True)
    builder.add_float_field("lat", indexed=True, fast=True)
    builder.add_float_field("lon", indexed=True, fast=True)
    return builder.build()


def _register(index: tantivy.Index) -> None:
    nothing = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(r"\A\z")).build()
    index.register_tokenizer(NO_TERMS, nothing)


@dataclass(frozen=True)
class BuildReport:
    path: Path
    documents: dict[str, int]
    seconds: float
    bytes: int


def index_root(hub_path: Path) -> Path:
    return Path(hub_path) / INDEX_DIR


def snapshot_database(hub_path: Path, name: str) -> Path:
    """The frozen hub database of snapshot `name`."""
    return Path(hub_path) / SNAPSHOTS_DIR / name / HUB_FILE


def freeze_database(con: duckdb.DuckDBPyConnection, hub_path: Path, name: str) -> Path:
    """Copy the hub database on `con` (open for writing, so no other process writes
    it) to snapshot `name`, flushed to disk, and return the copy's path."""
    # everything committed goes into the file itself, not the write-ahead log
    con.execute("CHECKPOINT")
    target = snapshot_database(hub_path, name)
    partial = target.parent.with_name(f"{name}.{uuid.uuid4().hex}.tmp")
    if not partial.parent.exists():
        partial.parent.mkdir()
        _sync_folder(Path(hub_path))
    partial.mkdir()
    try:
        copy = partial / HUB_FILE
        shutil.copyfile(Path(hub_path) / HUB_FILE, copy)
        _sync_file(copy)
        _sync_folder(partial)
        os.replace(partial, target.parent)
        _sync_folder(partial.parent)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise SearchIndexError(
            f"can't write the snapshot's copy of the hub database to {partial.parent}: "
            f"{exc.strerror or exc}"
        ) from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def write_index(
    target: Path,
    documents: Iterable[dict[str, Any]],
    meta: dict[str, Any],
    *,
    threads: int = 0,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Write `documents` into a new Tantivy index at `target`; count them by kind."""
    target.mkdir(parents=True)
    index = tantivy.Index(schema(), path=str(target))
    _register(index)
    writer = index.writer(heap_size=WRITER_HEAP, num_threads=threads)
    counts: dict[str, int] = {}
    labels: dict[str, dict[str, Any]] = {}
    dumps = json.dumps
    add = writer.add_json
    for n, doc in enumerate(documents, 1):
        marking, compartment, roles = doc.pop("label_parts")
        labels.setdefault(
            doc["label"], {"marking": marking, "compartment": compartment, "roles": roles}
        )
        add(dumps(doc))
        counts[doc["kind"]] = counts.get(doc["kind"], 0) + 1
        if progress is not None and n % 50_000 == 0:
            progress(n)
    writer.commit()
    writer.wait_merging_threads()
    # every label in the index, so that a viewer's filter can list the ones they may see
    body = {**meta, "format": FORMAT, "documents": counts, "labels": labels}
    (target / META).write_text(json.dumps(body, indent=2) + "\n")
    _sync_file(target / META)
    _sync_folder(target)
    return counts


def snapshot_documents(con: duckdb.DuckDBPyConnection) -> Iterable[dict[str, Any]]:
    """Every index document of the hub's current snapshot: entities, then texts."""
    for group in entity_groups(con):
        yield index_document(group)
    for row in text_rows(con):
        yield text_document(row)


def build_index(
    con: duckdb.DuckDBPyConnection,
    hub_path: Path,
    *,
    progress: Callable[[int], None] | None = None,
) -> BuildReport:
    """Build the next snapshot (the search index of the hub on `con`, and a frozen copy
    of its database) beside the current one, then switch to it."""
    run = latest_run(con)
    if run is None:
        raise SearchIndexError("the hub has not been resolved yet; run `peelian resolve` first")
    root = index_root(hub_path)
    root.mkdir(exist_ok=True)
    name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    target = root / name
    started = time.perf_counter()
    meta = {"resolve_run": run[0], "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    try:
        counts = write_index(target, snapshot_documents(con), meta, progress=progress)
        size = sum(f.stat().st_size for f in target.iterdir())
        freeze_database(con, hub_path, name)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    switch_to(root, name)
    return BuildReport(target, counts, time.perf_counter() - started, size)


def switch_to(root: Path, name: str) -> None:
    """Make snapshot `name` the current one atomically; remove the snapshots older
    than the previous one that no server has open, and any a crash left behind."""
    previous = current_name(root)
    tmp = root / f"{CURRENT}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(name + "\n")
    _sync_file(tmp)
    os.replace(tmp, root / CURRENT)
    _sync_folder(root)
    keep = {name, previous}
    snapshots = root.parent / SNAPSHOTS_DIR
    # a worker that has not switched yet (idle, or still loading) serves an older one
    keep |= {
        entry.name
        for entry in (snapshots.iterdir() if snapshots.is_dir() else ())
        if _in_use(entry / HUB_FILE)
    }
    for folder in (root, snapshots):
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.is_dir() and entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.endswith(".tmp"):
                entry.unlink(missing_ok=True)


def _in_use(database: Path) -> bool:
    """Does another process have this DuckDB file open (DuckDB holds a lock on it,
    shared when read-only)? Closing the handle here drops this process's own locks on
    the file, so a process that serves snapshots must not build them."""
    try:
        handle = os.open(database, os.O_RDWR)
    except OSError:
        return False  # not there (a partial folder): nothing holds it
    try:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(handle)  # releases the lock taken, if any
    return False


def _sync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _sync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename in it) to disk."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def current_name(root: Path) -> str | None:
    try:
        return (root / CURRENT).read_text().strip() or None
    except FileNotFoundError:
        return None


@dataclass
class OpenIndex:
    """An open, read-only index build."""

    index: tantivy.Index
    schema: tantivy.Schema
    path: Path
    meta: dict[str, Any]


def open_path(path: Path) -> OpenIndex:
    """Open the index build in folder `path`."""
    meta_file = path / META
    if not meta_file.exists():
        raise SearchIndexError(f"{path} is not a complete Peelian index (no {META})")
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError) as exc:
        raise SearchIndexError(f"{path} has an unreadable {META}: {exc}") from None
    if not isinstance(meta, dict):
        raise SearchIndexError(f"{path} has an unreadable {META}: not an object")
    if meta.get("format") != FORMAT:
        raise SearchIndexError(
            f"{path} was built by another version of Peelian (format {meta.get('format')}, "
            f"expected {FORMAT}); rebuild it with `peelian index`"
        )
    if not isinstance(meta.get("labels"), dict):
        # without the list of labels no viewer's filter can be built: fail closed
        raise SearchIndexError(f"{path} does not list its security labels; rebuild it")
    index = tantivy.Index.open(str(path))
    _register(index)
    return OpenIndex(index, index.schema, path, meta)


def open_current(hub_path: Path) -> OpenIndex:
    """Open the hub's current index (as named by `CURRENT`)."""
    if not (Path(hub_path) / HUB_FILE).exists():
        raise SearchIndexError(f"{hub_path} is not a Peelian hub (no {HUB_FILE})")
    root = index_root(hub_path)
    name = current_name(root)
    if name is None:
        raise SearchIndexError(
            f"{hub_path} has no search index yet; run `peelian index --hub {hub_path}`"
        )
    return open_path(root / name)
