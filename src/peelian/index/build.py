"""The Tantivy index of a snapshot: schema, build, atomic switch, open.

    HUB/index/
      CURRENT                  the name of the build searches use (replaced atomically)
      <build>/                 one Tantivy index per build, never changed once written
        peelian-index.json     what it was built from, when, with how many documents

A build writes a new folder beside the current one and, once it is committed and
complete, replaces `CURRENT` with one `os.replace`: a search opens either the old
index or the new one, never half of one. An interrupted build leaves a folder
`CURRENT` does not name, removed by the next build. The build before the current
one is kept (a long search may still hold it open, and it is a rollback).
"""

from __future__ import annotations

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

from peelian.index.documents import entity_groups, index_document, text_document, text_rows
from peelian.resolve.explain import latest_run

INDEX_DIR = "index"
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
    """Build the snapshot's index beside the current one, then switch to it."""
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
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    switch_to(root, name)
    size = sum(f.stat().st_size for f in target.iterdir())
    return BuildReport(target, counts, time.perf_counter() - started, size)


def switch_to(root: Path, name: str) -> None:
    """Make build `name` the current one atomically; remove builds older than the
    previous one and any a crash left behind."""
    previous = current_name(root)
    tmp = root / f"{CURRENT}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(name + "\n")
    os.replace(tmp, root / CURRENT)
    keep = {name, previous}
    for entry in root.iterdir():
        if entry.is_dir() and entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.endswith(".tmp"):
            entry.unlink(missing_ok=True)


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
    meta = json.loads(meta_file.read_text())
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
    if not (Path(hub_path) / "hub.duckdb").exists():
        raise SearchIndexError(f"{hub_path} is not a Peelian hub (no hub.duckdb)")
    root = index_root(hub_path)
    name = current_name(root)
    if name is None:
        raise SearchIndexError(
            f"{hub_path} has no search index yet; run `peelian index --hub {hub_path}`"
        )
    return open_path(root / name)
