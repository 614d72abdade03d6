"""Load and check mapping files (format ``peelian-mapping/1``, see docs/mappings.md).

A mapping tells the ingest how to read one source and what its columns mean.
This module reads the YAML, checks it against ``mapping.schema.json`` and a
set of rules a schema can't express (links join existing entities of the
right kinds, regular expressions compile, lookups name real code tables...),
fills in the defaults and hands back a :class:`Mapping`. It never reads the
source data itself: that is the ingest's job.

Every problem is reported as ``<file> line <n>, column <c>: <where>: <what
is wrong and what was expected>``, written for the person who maintains the
mapping, who is not necessarily a programmer.

>>> from pathlib import Path
>>> mapping = load_mapping(Path("src/peelian/synth/mappings/crime.yaml"))
>>> mapping.name, mapping.data["reader"]["kind"], mapping.data["record"]["id"]
('crime', 'csv', ['{CRIME_REF}'])
"""

from __future__ import annotations

import codecs
import copy
import difflib
import functools
import json
import re
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError

from peelian.hub import TEXT_SOURCE
from peelian.reference import code_table, code_table_names

FORMAT = "peelian-mapping/1"
SCHEMA_PATH = Path(__file__).with_name("mapping.schema.json")
PRESETS_DIR = Path(__file__).with_name("presets")

# Names a template may use besides the source's own columns.
BUILT_IN_NAMES = {
    "_row": "the data row's number within its file (1 = the first data row)",
    "_row_in_group": "1, 2, 3... for consecutive rows that share the same record id",
    "_file": "the name of the file the row comes from",
}

# Codes parse_date and parse_datetime accept (docs/mappings.md "Transforms").
DATE_CODES = {"%d": "day", "%m": "month number", "%b": "English month abbreviation", "%Y": "year"}
TIME_CODES = {"%H": "hour", "%M": "minute", "%S": "second", "%z": "offset such as +00:00"}

# Which kinds of entity each link type joins: (from kinds, to kinds).
_OBJECTS = ("vehicle", "phone")
LINK_ENDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "PARTY_TO": (("person", "organisation"), ("event",)),
    "INVOLVED_IN": (_OBJECTS, ("event",)),
    "OCCURRED_AT": (("event",), ("location",)),
    "LINKED_TO": (("event",), ("event",)),
    "LIVES_AT": (("person",), ("address",)),
    "HAS_PHONE": (("person",), ("phone",)),
    "OWNS": (("person",), ("vehicle",)),
    "USES": (("person",), ("vehicle",)),
    "KEEPER_OF": (("person",), ("vehicle",)),
    "SEEN_AT": (("vehicle",), ("location",)),
    "CALLED": (("phone",), ("phone",)),
    "FOUND_AT": (("person",), ("location",)),
    "KNOWS": (("person",), ("person",)),
    "FAMILY": (("person",), ("person",)),
    "LIVES_WITH": (("person",), ("person",)),
}

_TRANSFORM_EXAMPLES = {
    "parse_date": '{parse_date: ["%d/%m/%Y"]}',
    "parse_datetime": '{parse_datetime: ["%d/%m/%Y %H:%M"]}',
    "split_name": "{split_name: surname_first}",
    "lookup": "{lookup: sex_codes}",
    "regex": '{regex: {pattern: "^([A-Z]+)/", group: 1}}',
    "split": '{split: ";"}',
    "normalise": "{normalise: postcode}",
}
_MAX_PROBLEMS = 12  # more than this, and the first ones are what to fix

Key = str | int


# Problems ---------------------------------------------------------------------


def _place(file: Path, line: int | None, column: int | None = None) -> str:
    """`crime.yaml line 41, column 7`."""
    where = file.name
    if file.parent == PRESETS_DIR:
        where += " (a preset shipped with Peelian)"
    if line is not None:
        where += f" line {line}"
        if column is not None:
            where += f", column {column}"
    return where


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a mapping file, and where (lines and columns count from 1)."""

    file: Path
    line: int | None
    column: int | None
    message: str

    def __str__(self) -> str:
        return f"{_place(self.file, self.line, self.column)}: {self.message}"


class MappingError(Exception):
    """A mapping file can't be used. `problems` lists what is wrong, file and line first.

    The message is every problem, one a line, for example::

        crime.yaml line 41, column 7: entities[3].fields: 'surnme' is not a field of a
        person; expected one of forenames, surname, ... (did you mean 'surname'?)
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# The parsed YAML, for finding lines ---------------------------------------------


@dataclass(frozen=True)
class _Yaml:
    path: Path
    root: yaml.Node


class _Locator:
    """Finds the line of a key path in one or more YAML files (a user's file over a preset)."""

    def __init__(self, files: Sequence[_Yaml]) -> None:
        self.files = tuple(files)

    def find(self, keys: Sequence[Key], *, key: str | None = None) -> tuple[Path, yaml.Node]:
        """The file and node for `keys` (the key node of `key` inside it, if given).

        When the path is only partly there (a key that is missing), the deepest
        node found is returned, so the problem points at the enclosing section.
        """
        best: tuple[int, Path, yaml.Node] | None = None
        wanted = [*keys, key] if key is not None else list(keys)
        for doc in self.files:
            depth, node = _descend(doc.root, wanted, key_node=key is not None)
            if best is None or depth > best[0]:
                best = (depth, doc.path, node)
        assert best is not None
        return best[1], best[2]

    def problem(
        self, keys: Sequence[Key], message: str, *, key: str | None = None, prefix: bool = True
    ) -> Problem:
        """A problem at `keys`; the message starts with where it is, e.g. `entities[3].fields`."""
        path, node = self.find(keys, key=key)
        where = _where(keys) if prefix else ""
        text = f"{where}: {message}" if where else message
        return Problem(path, node.start_mark.line + 1, node.start_mark.column + 1, text)


def _descend(node: yaml.Node, keys: Sequence[Key], *, key_node: bool) -> tuple[int, yaml.Node]:
    """How many of `keys` were found, and the node reached (the last key's name if key_node)."""
    depth = 0
    for i, k in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(node, yaml.MappingNode):
            for name, value in node.value:
                if isinstance(name, yaml.ScalarNode) and name.value == str(k):
                    node = name if (last and key_node) else value
                    break
            else:
                return depth, node
        elif isinstance(node, yaml.SequenceNode) and isinstance(k, int) and k < len(node.value):
            node = node.value[k]
        else:
            return depth, node
        depth += 1
    return depth, node


def _where(keys: Sequence[Key]) -> str:
    """`("entities", 3, "fields")` -> `entities[3].fields`."""
    out = ""
    for k in keys:
        if isinstance(k, int):
            out += f"[{k}]"
        else:
            out += f".{k}" if out else str(k)
    return out


# Reading YAML ----------------------------------------------------------------------

_YAML_HINTS = (
    ("found character '\\t'", "there is a tab character: indent with spaces only"),
    (
        "mapping values are not allowed here",
        "a ':' where YAML did not expect one: the line is probably indented wrongly, or a "
        "value containing ': ' needs double quotes",
    ),
    (
        "could not find expected ':'",
        "a line that should read `key: value` has no ':', or the line before it is not finished",
    ),
    (
        "expected <block end>",
        "the indentation is wrong: this line doesn't line up with the lines above it "
        "(two spaces per level; list items start with '- ' at the same place)",
    ),
    (
        "did not find expected key",
        "the indentation is wrong: this line doesn't line up with the keys above it "
        "(two spaces per level)",
    ),
    ("did not find expected '-' indicator", "a list item doesn't line up with the items above it"),
    (
        "expected ',' or '}'",
        "a {...} mapping written on one line is not closed with '}', or a value in it "
        "containing ',' or ':' needs double quotes",
    ),
    (
        "expected ',' or ']'",
        "a [...] list written on one line is not closed with ']', or a value in it needs "
        "double quotes",
    ),
    ("while scanning a quoted scalar", "a quote is opened here but never closed"),
    ("found unexpected end of stream", "something opened here is never closed"),
    ("found unknown escape character", 'a "\\" inside double quotes: write "\\\\" for a backslash'),
    ("expected a single document", "the file holds more than one document (a line with ---)"),
    ("found undefined alias", "a value starting with '*' needs double quotes"),
    ("that cannot start any token", "a value starting with this character needs double quotes"),
)


def _yaml_problem(path: Path, error: yaml.YAMLError) -> Problem:
    context = str(getattr(error, "context", None) or "")
    problem = str(getattr(error, "problem", None) or "")
    raw = " ".join(part for part in (context, problem) if part) or str(error)
    hint = next((h for pattern, h in _YAML_HINTS if pattern in raw), None)
    message = (
        f"this is not valid YAML: {hint} ({raw})" if hint else f"this is not valid YAML: {raw}"
    )
    # an unclosed quote or bracket is found only at the end: point at where it was opened
    opened = "quoted scalar" in context or "flow" in context
    mark = getattr(error, "context_mark" if opened else "problem_mark", None)
    mark = mark or getattr(error, "problem_mark", None)
    if mark is None:
        return Problem(path, None, None, message)
    return Problem(path, mark.line + 1, mark.column + 1, message)


def _read_yaml(path: Path) -> tuple[_Yaml | None, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MappingError([Problem(path, None, None, "there is no such file")]) from None
    except IsADirectoryError:
        raise MappingError([Problem(path, None, None, "this is a folder, not a file")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        message = (
            "the file is not UTF-8 text: save it as UTF-8 (the data it reads may be any encoding)"
        )
        raise MappingError([Problem(path, line, None, message)]) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        problems = list(_structure_problems(path, node))
        if problems:
            raise MappingError(problems)
        data = loader.construct_document(node)
    except yaml.YAMLError as e:
        raise MappingError([_yaml_problem(path, e)]) from None
    finally:
        loader.dispose()
    return _Yaml(path, node), data


def _structure_problems(path: Path, root: yaml.Node) -> Iterator[Problem]:
    """Keys given twice (YAML quietly keeps the last) and aliases (*name) inside themselves."""
    done: set[int] = set()
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            on_path.discard(id(node))
            done.add(id(node))
            continue
        if id(node) in on_path:
            yield Problem(
                path,
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                "this part is reused inside itself with an alias (*name), so it never ends: "
                "remove the alias",
            )
            return
        if id(node) in done:
            continue
        on_path.add(id(node))
        stack.append((node, True))
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, yaml.Node] = {}
            for name, value in node.value:
                if isinstance(name, yaml.ScalarNode):
                    if name.value in seen:
                        first = seen[name.value].start_mark.line + 1
                        yield Problem(
                            path,
                            name.start_mark.line + 1,
                            name.start_mark.column + 1,
                            f"'{name.value}' is given twice here (first on line {first}); "
                            "YAML would keep only the second, so remove one",
                        )
                    seen[name.value] = name
                stack.append((value, False))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, False) for item in reversed(node.value))


# The schema --------------------------------------------------------------------------


@functools.cache
def schema() -> dict[str, Any]:
    """The JSON Schema of peelian-mapping/1 (``mapping.schema.json``)."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


@functools.cache
def _descriptions() -> dict[str, str]:
    """Every property's description, by key name, for messages about missing keys."""
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                if isinstance(prop, dict) and "description" in prop:
                    found.setdefault(name, prop["description"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema()["$defs"])
    return found


def _words(values: Sequence[Any]) -> str:
    return ", ".join(str(v) for v in values)


def _or(values: Sequence[str]) -> str:
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def _did_you_mean(value: Any, options: Sequence[Any]) -> str:
    """` (did you mean 'surname'?)` for a near miss, else ``""``."""
    if not isinstance(value, str) or not value:
        return ""
    folded = value.casefold()

    def likeness(option: str) -> float:
        other = option.casefold()
        score = difflib.SequenceMatcher(None, folded, other).ratio()
        # "nhs_number" for "nhs": one name is the start of the other
        if len(other) > 1 and (folded.startswith(other) or other.startswith(folded)):
            score += 0.3
        return score

    scored = sorted(((likeness(str(o)), str(o)) for o in options), reverse=True)
    if scored and scored[0][0] >= 0.6:
        return f" (did you mean '{scored[0][1]}'?)"
    return ""


def _show(value: Any) -> str:
    """A value as the mapping's author wrote it, more or less."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, dict):
        return "a mapping {...}"
    if isinstance(value, list):
        return "a list [...]"
    return str(value)


_TYPE_WORDS = {
    "object": "a mapping (key: value lines, or {key: value})",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _noun(title: str) -> str:
    return title.removeprefix("a key of ").removeprefix("a part of ").removeprefix("a field of ")


# Lower rank = more helpful; one problem is reported per place in the file.
_RANK = {
    "additionalProperties": 0,
    "propertyNames": 0,
    "enum": 1,
    "const": 1,
    "pattern": 2,
    "type": 2,
    "minimum": 2,
    "maximum": 2,
    "exclusiveMinimum": 2,
    "minLength": 2,
    "maxLength": 2,
    "minItems": 2,
    "maxProperties": 2,
    "minProperties": 2,
    "not": 3,
    "required": 3,
    "oneOf": 4,
}


@dataclass(frozen=True)
class _Issue:
    keys: tuple[Key, ...]
    message: str
    key: str | None = None  # point at this key's name rather than its value
    rank: int = 5
    validator: str = ""


def _explain(error: ValidationError, reader_kind: str | None) -> list[_Issue]:
    """Plain-English issues for one jsonschema error."""
    keys = tuple(error.path)
    s = error.schema if isinstance(error.schema, dict) else {}
    title = str(s.get("title", "allowed here"))
    instance = error.instance
    validator = str(error.validator)
    setting: Any = error.validator_value  # the schema's value for the rule that failed
    rank = _RANK.get(validator, 5)

    if validator == "additionalProperties" and isinstance(instance, dict):
        allowed = list(s.get("properties", {}))
        issues = []
        for extra in [k for k in instance if k not in allowed]:
            if title.startswith("a section of a mapping that uses a preset"):
                message = (
                    f"'{extra}' comes from the preset and can't be changed here; a mapping that "
                    "uses a preset may set only format, preset, source and reader.path"
                )
            elif title.startswith("a key of reader that a preset"):
                message = (
                    f"reader.{extra} comes from the preset and can't be changed here; "
                    "only reader.path can"
                )
            elif title == "a key of a value" and extra in _TRANSFORM_EXAMPLES:
                message = (
                    f"'{extra}' is a transform: put it in the value's transform list, e.g. "
                    f"transform: [{_TRANSFORM_EXAMPLES[extra]}]"
                )
            else:
                message = (
                    f"'{extra}' is not {title}; expected one of {_words(allowed)}"
                    + _did_you_mean(extra, allowed)
                )
            issues.append(_Issue(keys, message, key=str(extra), rank=0))
        return issues

    if validator == "enum" and "propertyNames" in error.schema_path:
        options = list(s.get("enum", []))
        message = f"'{instance}' is not {title}; expected one of {_words(options)}"
        return [_Issue(keys, message + _did_you_mean(instance, options), key=str(instance), rank=0)]

    if validator == "enum":
        options = list(s.get("enum", []))
        if title == "a transform" and instance in _TRANSFORM_EXAMPLES:
            message = (
                f"the transform '{instance}' needs a setting: write it as "
                f"{_TRANSFORM_EXAMPLES[str(instance)]}"
            )
        else:
            message = (
                f"{_show(instance)} is not {title}; expected one of {_words(options)}"
                + _did_you_mean(instance, options)
            )
        return [_Issue(keys, message, rank=rank)]

    if validator == "const":
        return [_Issue(keys, f"expected {setting}, found {_show(instance)}", rank=rank)]

    if validator == "type":
        wanted = setting
        wanted_list = [wanted] if isinstance(wanted, str) else list(wanted)
        if title == "a key of a value" and isinstance(instance, str | int | float):
            form = "path" if reader_kind == "jsonl" else "column"
            message = (
                f"write where the value comes from, e.g. {{{form}: {instance}}}, or "
                f"{{constant: {instance}}} for a fixed value"
            )
        else:
            expected = _or([_TYPE_WORDS.get(w, w) for w in wanted_list])
            found = "nothing" if instance is None else _show(instance)
            message = f"expected {expected}, found {found}"
            if "description" in s:
                message += f" ({s['description']})"
        return [_Issue(keys, message, rank=rank)]

    if validator == "required" and isinstance(instance, dict):
        issues = []
        for missing in [k for k in setting if k not in instance]:
            message = f"'{missing}' is missing"
            prop = s.get("properties", {}).get(missing, {})
            description = prop.get("description") or _descriptions().get(missing)
            if description:
                message += f": {description}"
            issues.append(_Issue(keys, message, rank=rank))
        return issues

    if validator == "oneOf" and isinstance(instance, dict):
        options = [
            alt["required"][0]
            for alt in setting
            if isinstance(alt, dict) and set(alt) == {"required"}
        ]
        if options:
            present = [o for o in options if o in instance]
            noun = _noun(title)
            if not present:
                message = f"{noun} needs one of {_or(options)}"
            else:
                message = (
                    f"{noun} takes only one of {_or(options)}, but this one has "
                    f"{' and '.join(present)}"
                )
            return [_Issue(keys, message, rank=rank)]

    if validator == "not":
        return [_Issue(keys, str(s.get("description", error.message)), rank=rank)]

    if validator == "minItems":
        message = f"the list is empty; expected at least {setting} item"
        if setting != 1:
            message += "s"
        if "description" in s:
            message += f" ({s['description']})"
        return [_Issue(keys, message, rank=rank)]

    if validator == "minLength":
        return [_Issue(keys, "this is empty", rank=rank)]

    if validator == "maxLength":
        return [
            _Issue(
                keys,
                f"{_show(instance)} is {len(str(instance))} characters; expected a single "
                "character" + (f" ({s['description']})" if "description" in s else ""),
                rank=rank,
            )
        ]

    if validator == "maxProperties":
        names = " and ".join(str(k) for k in instance) if isinstance(instance, dict) else ""
        return [
            _Issue(
                keys,
                f"one transform step can do only one thing, but this one has {names}: "
                "write each as its own step, e.g. [strip, {lookup: sex_codes}]",
                rank=rank,
            )
        ]

    if validator == "minProperties":
        return [_Issue(keys, "this transform step is empty", rank=rank)]

    if validator in ("minimum", "maximum", "exclusiveMinimum"):
        bound = setting
        relation = {"minimum": "less than", "maximum": "more than"}.get(validator, "not more than")
        message = f"{_show(instance)} is {relation} {bound}"
        if "description" in s:
            message += f"; expected {s['description']}"
        return [_Issue(keys, message, rank=rank)]

    if validator == "pattern":
        suggestion = re.sub(r"[^a-z0-9]+", "_", str(instance).lower()).strip("_")
        message = (
            f"{_show(instance)} is not a valid name: use lower case letters, digits and "
            "underscores, starting with a letter"
        )
        if suggestion and re.fullmatch(r"[a-z][a-z0-9_]*", suggestion):
            message += f", e.g. '{suggestion}'"
        return [_Issue(keys, message, rank=rank)]

    return [_Issue(keys, error.message, rank=rank)]


def _schema_problems(data: Any, locator: _Locator) -> list[Problem]:
    reader = data.get("reader") if isinstance(data, dict) else None
    reader_kind = reader.get("kind") if isinstance(reader, dict) else None
    issues: list[_Issue] = []
    for error in _validator().iter_errors(data):
        for explained in _explain(error, reader_kind if isinstance(reader_kind, str) else None):
            issue = replace(explained, validator=str(error.validator))
            if issue not in issues:
                issues.append(issue)
    # One mistake can break several rules at the same place: keep the most helpful.
    # An object with a misspelt key also lacks the key it meant: report the misspelling.
    best = {(i.keys, i.key): i.rank for i in issues}
    for i in issues:
        best[(i.keys, i.key)] = min(best[(i.keys, i.key)], i.rank)
    misspelt = {i.keys for i in issues if i.key is not None}
    kept = [
        i
        for i in issues
        if i.rank == best[(i.keys, i.key)]
        and not (i.key is None and i.validator in ("oneOf", "required") and i.keys in misspelt)
    ]
    return [locator.problem(i.keys, i.message, key=i.key) for i in kept]


# Loading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mapping:
    """A checked mapping, with every default filled in (docs/mappings.md).

    `data` has every section: ``format``, ``preset`` (the preset's name or
    None), ``source``, ``reader``, ``record``, ``entities``, ``links``,
    ``unmapped``. Optional keys are present with their default (``None`` when
    there is none); ``record["id"]`` is always a list of templates.
    """

    path: Path
    name: str
    data: dict[str, Any]
    _locator: _Locator = field(repr=False, compare=False)

    @property
    def base_dir(self) -> Path:
        """The folder `reader.path` is relative to: the mapping file's folder."""
        return self.path.parent

    def line_of(self, *keys: Key) -> int | None:
        """The line of ``keys`` in this mapping's own file, or None if it isn't there.

        >>> load_mapping(PRESETS_DIR / "police_uk_stop_search.yaml").line_of("record", "id")
        35

        For a mapping made from a preset, keys that come from the preset are not
        in the file: use :meth:`where`, which names the preset file instead.
        """
        depth, node = _descend(self._locator.files[0].root, keys, key_node=False)
        return node.start_mark.line + 1 if depth == len(keys) else None

    def where(self, *keys: Key) -> str:
        """``"<file> line <n>"`` for ``keys``, for messages about this part of the mapping.

        >>> load_mapping(PRESETS_DIR / "police_uk_stop_search.yaml").where("reader", "path")
        'police_uk_stop_search.yaml (a preset shipped with Peelian) line 28'
        """
        path, node = self._locator.find(keys)
        return _place(path, node.start_mark.line + 1)


def presets() -> tuple[str, ...]:
    """Names of the presets shipped with Peelian."""
    return tuple(sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))


def load_mapping(path: Path) -> Mapping:
    """Read, check and complete one mapping file; raise MappingError naming every problem."""
    path = Path(path)
    doc, data = _read_yaml(path)
    if doc is None:
        raise MappingError(
            [Problem(path, None, None, f"the file is empty; start it with format: {FORMAT}")]
        )
    if not isinstance(data, dict):
        raise MappingError(
            [
                Problem(
                    path,
                    1,
                    1,
                    f"expected sections (format: {FORMAT}, source: ...), found {_show(data)}",
                )
            ]
        )
    locator = _Locator([doc])
    _check_format(data, locator)
    preset = data.get("preset")
    if preset is not None:
        data, locator = _apply_preset(path, data, locator)
    problems = _schema_problems(data, locator)
    if not problems:
        problems = _Checker(path, data, locator).run()
    if problems:
        problems = sorted(problems, key=_order)
        if len(problems) > _MAX_PROBLEMS:
            more = len(problems) - _MAX_PROBLEMS
            last = Problem(path, None, None, f"and {more} more problems: fix the ones above first")
            problems = [*problems[:_MAX_PROBLEMS], last]
        raise MappingError(problems)
    filled = _with_defaults(data)
    filled["preset"] = preset
    return Mapping(path=path, name=filled["source"]["name"], data=filled, _locator=locator)


def load_mappings(paths: Sequence[Path]) -> list[Mapping]:
    """Load several mappings; a folder stands for every *.yaml and *.yml file in it, sorted.

    Problems in every file are collected and raised together. Two mappings
    may not describe the same source.
    """
    files: list[Path] = []
    problems: list[Problem] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not found:
                problems.append(
                    Problem(path, None, None, "this folder holds no mapping files (*.yaml)")
                )
            files.extend(found)
        else:
            files.append(path)
    mappings: list[Mapping] = []
    for file in files:
        try:
            mappings.append(load_mapping(file))
        except MappingError as e:
            problems.extend(e.problems)
    first: dict[str, Mapping] = {}
    for mapping in mappings:
        if mapping.name in first:
            other = first[mapping.name].path
            problems.append(
                Problem(
                    mapping.path,
                    mapping.line_of("source", "name"),
                    None,
                    f"source.name: '{mapping.name}' is also the source of {other}; "
                    "each source needs one mapping",
                )
            )
        first.setdefault(mapping.name, mapping)
    if problems:
        raise MappingError(problems)
    return mappings


def _order(problem: Problem) -> tuple[str, int, int]:
    return (str(problem.file), problem.line or 0, problem.column or 0)


def _check_format(data: dict[str, Any], locator: _Locator) -> None:
    if "format" not in data:
        raise MappingError(
            [locator.problem((), f"there is no format line; start the file with format: {FORMAT}")]
        )
    if data["format"] != FORMAT:
        message = f"this file is format {data['format']}; this Peelian reads {FORMAT}"
        raise MappingError([locator.problem(("format",), message, prefix=False)])


def _apply_preset(
    path: Path, data: dict[str, Any], locator: _Locator
) -> tuple[dict[str, Any], _Locator]:
    """The preset named in `data`, with the file's source keys and reader.path laid over it.

    The result is checked as a whole mapping; problems are found in the user's
    file first, then in the preset's.
    """
    problems = _schema_problems(data, locator)
    if problems:
        raise MappingError(problems)
    name = data["preset"]
    if name not in presets():
        message = f"there is no preset '{name}'; the presets are: {_words(presets())}"
        raise MappingError([locator.problem(("preset",), message + _did_you_mean(name, presets()))])
    preset_doc, preset = _read_yaml(PRESETS_DIR / f"{name}.yaml")
    assert preset_doc is not None
    assert isinstance(preset, dict)
    merged = _merge(preset, {k: v for k, v in data.items() if k in ("source", "reader")})
    # the source is named after the user's file unless the file names it
    if "name" not in data.get("source", {}):
        if not re.fullmatch(r"[a-z][a-z0-9_]*", path.stem):
            better = re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_") or "my_source"
            message = (
                f"the source takes its name from the file, but '{path.stem}' is not a valid "
                "name (lower case letters, digits and underscores, starting with a letter): "
                f"rename the file, e.g. to {better}.yaml"
            )
            raise MappingError([Problem(path, None, None, message)])
        merged["source"]["name"] = path.stem
    return merged, _Locator([locator.files[0], preset_doc])


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` laid onto `base`: mappings merge key by key, anything else (lists too) replaces."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# Checks the schema can't express ------------------------------------------------------


class _Checker:
    """The rules of docs/mappings.md a schema can't express.

    Run only once the schema is satisfied, so the mapping's shape is sound.
    """

    def __init__(self, path: Path, data: dict[str, Any], locator: _Locator) -> None:
        self.path = path
        self.data = {k: v for k, v in data.items() if k != "preset"}
        self.locator = locator
        self.reader_kind: str = data["reader"]["kind"]
        self.problems: list[Problem] = []
        self.entities: dict[str, tuple[int, dict[str, Any]]] = {}

    def fail(self, keys: Sequence[Key], message: str, *, key: str | None = None) -> None:
        self.problems.append(self.locator.problem(keys, message, key=key))

    def run(self) -> list[Problem]:
        self.check_source()
        self.check_reader()
        self.check_record()
        self.check_entities()
        self.check_links()
        for keys, value in _values(self.data):
            self.check_value(keys, value)
        for keys, condition in _conditions(self.data):
            self.check_condition(keys, condition)
        self.check_unmapped()
        return self.problems

    # source and reader

    def check_source(self) -> None:
        name = self.data["source"]["name"]
        if name == TEXT_SOURCE:
            self.fail(
                ("source", "name"),
                f"'{TEXT_SOURCE}' is reserved for the facts Peelian extracts from documents "
                "(`peelian extract`); give the source another name",
            )
        if name != self.path.stem:
            self.fail(
                ("source", "name"),
                f"the source is called '{name}' but the file is {self.path.name}; they must "
                f"match: rename the file to {name}.yaml, or write name: {self.path.stem}",
            )

    def check_reader(self) -> None:
        reader = self.data["reader"]
        timezone = reader.get("timezone")
        if timezone is not None and _time_zones_known() and not _is_time_zone(timezone):
            self.fail(
                ("reader", "timezone"),
                f"'{timezone}' is not a time zone name; use an IANA name such as "
                "Europe/London or UTC",
            )
        encoding = reader.get("encoding")
        if encoding is not None:
            try:
                codecs.lookup(encoding)
            except LookupError:
                self.fail(
                    ("reader", "encoding"),
                    f"'{encoding}' is not a text encoding Peelian knows; common ones are "
                    "utf-8, cp1252 (Windows) and latin-1",
                )
        if self.reader_kind == "csv":
            if reader.get("header", True) and "columns" in reader:
                self.fail(
                    ("reader",),
                    "columns is only for files without a header line: add header: false, "
                    "or remove columns",
                    key="columns",
                )
            if reader.get("delimiter", ",") == reader.get("quotechar", '"'):
                self.fail(("reader", "quotechar"), "the quote character can't be the delimiter")
        if self.reader_kind == "sql" and re.search(r"://[^/@:]+:[^/@]*@", reader["url"]):
            self.fail(
                ("reader", "url"),
                "the url holds a password: remove it; the database driver reads the password "
                "from the environment (for PostgreSQL, PGPASSWORD or a ~/.pgpass file)",
            )

    # record

    def check_record(self) -> None:
        record = self.data["record"]
        ids = record["id"] if isinstance(record["id"], list) else [record["id"]]
        for i, template in enumerate(ids):
            keys: tuple[Key, ...] = (
                ("record", "id", i) if isinstance(record["id"], list) else ("record", "id")
            )
            names = self.check_template(keys, template, row_id=False)
            if names is not None and not names:
                self.fail(
                    keys,
                    f"'{template}' names no column, so every record would get the same id; "
                    'write the column that identifies a record in braces, e.g. "{CRIME_REF}"',
                )
        if "row_id" in record:
            self.check_template(("record", "row_id"), record["row_id"], row_id=True)
        sharing = record.get("sharing")
        source_roles = self.data["source"].get("sharing", {}).get("roles", [])
        if sharing and source_roles:
            self.check_sharing_narrows(sharing["roles"], source_roles)

    def check_sharing_narrows(self, roles: dict[str, Any], allowed: list[str]) -> None:
        keys = ("record", "sharing", "roles")
        if "constant" in roles:
            wider = [] if roles["constant"] in allowed else [str(roles["constant"])]
            origin = "the constant"
        else:
            tables = [
                t["lookup"]
                for t in roles.get("transform", [])
                if isinstance(t, dict) and "lookup" in t
            ]
            if not tables or tables[-1] not in code_table_names():
                return
            wider = sorted(code_table(tables[-1]).codes - set(allowed))
            origin = f"code table {tables[-1]} can give"
        if wider:
            self.fail(
                keys,
                f"record.sharing can only narrow source.sharing.roles ({_words(allowed)}), but "
                f"{origin} {_words(wider)}: add it to source.sharing.roles if the agreement "
                "allows it, or correct the roles",
            )

    def check_template(
        self, keys: Sequence[Key], template: str, *, row_id: bool
    ) -> list[str] | None:
        """The names a template uses, or None (and a problem) when it is malformed."""
        if not re.fullmatch(r"(?:[^{}]|\{[^{}]*\})*", template):
            self.fail(keys, f"'{template}' has a '{{' or '}}' without its partner")
            return None
        names = re.findall(r"\{([^{}]*)\}", template)
        for name in names:
            if not name.strip():
                self.fail(keys, f"'{template}' has empty braces {{}}: put a column name in them")
            elif name.startswith("_") and name not in BUILT_IN_NAMES:
                self.fail(
                    keys,
                    f"{{{name}}} is not a built-in name; the built-in names are "
                    + _or([f"{{{n}}}" for n in BUILT_IN_NAMES]).replace(" or ", " and ")
                    + _did_you_mean(name, list(BUILT_IN_NAMES)),
                )
            elif name == "_row_in_group" and not row_id:
                self.fail(
                    keys,
                    "{_row_in_group} counts the rows of one record, so it can only be used in "
                    "record.row_id",
                )
        return names

    # entities and links

    def check_entities(self) -> None:
        has_row_id = "row_id" in self.data["record"]
        for i, entity in enumerate(self.data["entities"]):
            keys: tuple[Key, ...] = ("entities", i)
            name = entity["as"]
            if name in self.entities:
                first = self.entities[name][0]
                self.fail(
                    (*keys, "as"),
                    f"'{name}' is already the name of entities[{first}]; each entity needs its "
                    "own name",
                )
            else:
                self.entities[name] = (i, entity)
            if "refers_to" in entity:
                if "fields" in entity:
                    self.fail(
                        keys,
                        "an entity with refers_to stands for a record of another source and "
                        "has no fields of its own: remove fields or refers_to",
                        key="fields",
                    )
                self.check_template(
                    (*keys, "refers_to", "id"), entity["refers_to"]["id"], row_id=False
                )
            elif not entity.get("fields"):
                self.fail(
                    keys,
                    "the entity has no fields: say where its values come from under fields: "
                    "(or use refers_to for a record of another source)",
                )
            if "each" in entity and self.reader_kind != "jsonl":
                self.fail(
                    keys,
                    f"each is for JSON lines sources (a list inside each object); this mapping "
                    f"reads a {self.reader_kind} source",
                    key="each",
                )
            if entity.get("scope") == "record" and not has_row_id:
                self.fail(
                    (*keys, "scope"),
                    "scope: record is for a record that spans several rows, which needs "
                    "record.row_id; here every record is one row, so remove scope",
                )

    def check_links(self) -> None:
        names = list(self.entities)
        for i, link in enumerate(self.data.get("links", [])):
            keys: tuple[Key, ...] = ("links", i)
            ends: list[dict[str, Any]] = []
            for end in ("from", "to"):
                name = link[end]
                if name not in self.entities:
                    self.fail(
                        (*keys, end),
                        f"'{name}' is not an entity of this mapping; the entities are "
                        f"{_words(names)}" + _did_you_mean(name, names),
                    )
                else:
                    ends.append(self.entities[name][1])
            if len(ends) != 2:
                continue
            kind_from, kind_to = ends[0]["kind"], ends[1]["kind"]
            allowed_from, allowed_to = LINK_ENDS[link["type"]]
            if kind_from in allowed_from and kind_to in allowed_to:
                continue
            fitting = [t for t, (f, to) in LINK_ENDS.items() if kind_from in f and kind_to in to]
            message = (
                f"{_a(link['type'])} link goes from {_or([_a(k) for k in allowed_from])} to "
                f"{_or([_a(k) for k in allowed_to])}, but '{link['from']}' is {_a(kind_from)} "
                f"and '{link['to']}' is {_a(kind_to)}"
            )
            if fitting:
                message += f"; from {_a(kind_from)} to {_a(kind_to)} use {_or(fitting)}"
            else:
                message += f"; no link type goes from {_a(kind_from)} to {_a(kind_to)}"
            self.fail((*keys, "type"), message)

    # values, conditions, unmapped

    def check_form(self, keys: Sequence[Key], node: dict[str, Any]) -> None:
        if self.reader_kind == "jsonl":
            for form in ("column", "concat"):
                if form in node:
                    example = node["column"] if form == "column" else "a.b"
                    self.fail(
                        keys,
                        f"{form} is for csv, parquet and sql sources; this mapping reads JSON "
                        f"lines, so use path: {{path: {example}}}",
                        key=form,
                    )
        elif "path" in node:
            self.fail(
                keys,
                f"path is for JSON lines sources; this mapping reads a {self.reader_kind} "
                f"source, so use column: {{column: {node['path']}}}",
                key="path",
            )

    def check_value(self, keys: tuple[Key, ...], value: dict[str, Any]) -> None:
        self.check_form(keys, value)
        if "constant" in value:
            self.check_yaml_reading((*keys, "constant"), value["constant"])
        steps = value.get("transform", [])
        names = [s if isinstance(s, str) else next(iter(s)) for s in steps]
        for j, step in enumerate(steps):
            if isinstance(step, dict):
                self.check_transform((*keys, "transform", j), step)
        if "part" in value and "split_name" not in names:
            self.fail(
                keys,
                "part is for a value split with split_name; add {split_name: ...} to its "
                "transform, or remove part",
                key="part",
            )
        if "split_name" in names and "part" not in value:
            self.fail(
                keys,
                "after split_name, say which part to keep: add part: surname, or part: forenames",
            )
        if value.get("document") and keys[-1] != "text":
            self.fail(
                keys, "document: true is only for a text field (free text to index)", key="document"
            )

    def check_transform(self, keys: tuple[Key, ...], step: dict[str, Any]) -> None:
        name, setting = next(iter(step.items()))
        if name == "lookup" and setting not in code_table_names():
            tables = code_table_names()
            self.fail(
                (*keys, "lookup"),
                f"there is no code table '{setting}'; the code tables are {_words(tables)}"
                + _did_you_mean(setting, tables),
            )
        elif name == "regex":
            try:
                pattern = re.compile(setting["pattern"])
            except re.error as e:
                self.fail((*keys, "regex", "pattern"), f"the regular expression doesn't work: {e}")
                return
            group = setting.get("group", 0)
            if group > pattern.groups:
                have = f"{pattern.groups} group" + ("" if pattern.groups == 1 else "s")
                self.fail(
                    (*keys, "regex", "group"),
                    f"group {group} doesn't exist: the pattern has {have} (a group is a part "
                    "in round brackets, counted from 1; group 0 is the whole match)",
                )
        elif name in ("parse_date", "parse_datetime"):
            for k, fmt in enumerate(setting):
                self.check_date_format((*keys, name, k), name, fmt)

    def check_date_format(self, keys: Sequence[Key], transform: str, fmt: str) -> None:
        allowed = dict(DATE_CODES)
        if transform == "parse_datetime":
            allowed |= TIME_CODES
        codes = re.findall(r"%.?", fmt)
        bad = [c for c in codes if c not in allowed]
        listing = ", ".join(f"{c} {what}" for c, what in allowed.items())
        if "%y" in bad:
            self.fail(
                keys,
                f"'{fmt}' uses %y, a two-digit year, which can't tell 1924 from 2024; "
                f"Peelian reads four-digit years only (%Y). The codes are: {listing}",
            )
        elif transform == "parse_date" and bad and all(c in TIME_CODES for c in bad):
            self.fail(keys, f"'{fmt}' has a time in it ({_words(bad)}): use parse_datetime")
        elif bad:
            self.fail(
                keys,
                f"'{fmt}' uses {_words(bad)}, which {transform} doesn't know; "
                f"the codes are: {listing}",
            )
        elif not codes:
            self.fail(keys, f"'{fmt}' has no codes in it; the codes are: {listing}")

    def check_condition(self, keys: tuple[Key, ...], condition: dict[str, Any]) -> None:
        self.check_form(keys, condition)
        if "equals" in condition:
            self.check_yaml_reading((*keys, "equals"), condition["equals"])
        for j, item in enumerate(condition.get("in", [])):
            self.check_yaml_reading((*keys, "in", j), item)

    def check_yaml_reading(self, keys: tuple[Key, ...], value: Any) -> None:
        """YAML turns some unquoted words into something else: NO into false, 0123 into 83."""
        if isinstance(value, str):
            return
        _, node = self.locator.find(keys)
        if not isinstance(node, yaml.ScalarNode) or node.style:
            return  # quoted: the author meant it
        text = node.value
        plain = "true" if value is True else "false" if value is False else str(value)
        if text != plain:
            self.fail(
                keys,
                f"YAML reads {text} as {_show(value)}; if you mean the text, put it in double "
                f'quotes: "{text}"',
            )

    def check_unmapped(self) -> None:
        used = _columns_used(self.data)
        for i, item in enumerate(self.data["unmapped"]):
            keys: tuple[Key, ...] = ("unmapped", i)
            self.check_form(keys, item)
            name = item.get("column") or item.get("path")
            if name in used:
                self.fail(
                    keys,
                    f"'{name}' is listed as unmapped but the mapping uses it; "
                    "remove it from unmapped",
                )


def _a(word: str) -> str:
    """`a person`, `an event`, `an OWNS`."""
    return f"an {word}" if word[:1].lower() in "aeiou" else f"a {word}"


@functools.cache
def _time_zones_known() -> bool:
    return bool(zoneinfo.available_timezones())


def _is_time_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _values(data: dict[str, Any]) -> Iterator[tuple[tuple[Key, ...], dict[str, Any]]]:
    """Every value in the mapping (`{column: ...}` and the like), with its key path."""
    record = data["record"]
    for key in ("marking", "occurred", "compartment", "handling"):
        if key in record:
            yield ("record", key), record[key]
    for key in ("roles", "caveat"):
        if key in record.get("sharing", {}):
            yield ("record", "sharing", key), record["sharing"][key]
    for i, entity in enumerate(data["entities"]):
        for name, value in entity.get("fields", {}).items():
            keys: tuple[Key, ...] = ("entities", i, "fields", name)
            if name == "identifiers":
                for j, identifier in enumerate(value):
                    yield (*keys, j), identifier
                    if "issuer" in identifier:
                        yield (*keys, j, "issuer"), identifier["issuer"]
            elif name == "grading":
                for part, part_value in value.items():
                    yield (*keys, part), part_value
            else:
                yield keys, value
    for i, link in enumerate(data.get("links", [])):
        for key in ("role", "start", "end", "confidence"):
            if key in link:
                yield ("links", i, key), link[key]


def _conditions(data: dict[str, Any]) -> Iterator[tuple[tuple[Key, ...], dict[str, Any]]]:
    """Every `when` condition, with its key path."""
    for i, entity in enumerate(data["entities"]):
        if "when" in entity:
            yield ("entities", i, "when"), entity["when"]
        for j, identifier in enumerate(entity.get("fields", {}).get("identifiers", [])):
            if "when" in identifier:
                yield ("entities", i, "fields", "identifiers", j, "when"), identifier["when"]
    for i, link in enumerate(data.get("links", [])):
        if "when" in link:
            yield ("links", i, "when"), link["when"]


def _columns_used(data: dict[str, Any]) -> set[str]:
    used: set[str] = set()
    for _, node in [*_values(data), *_conditions(data)]:
        for form in ("column", "path"):
            if form in node:
                used.add(node[form])
        if "concat" in node:
            used.update(node["concat"]["columns"])
    record = data["record"]
    templates = record["id"] if isinstance(record["id"], list) else [record["id"]]
    for template in [*templates, record.get("row_id", "")]:
        used.update(re.findall(r"\{([^{}_][^{}]*)\}", template))
    for entity in data["entities"]:
        if "each" in entity:
            used.add(entity["each"])
    return used


# Defaults ------------------------------------------------------------------------------


def _reader_defaults(kind: str) -> dict[str, Any]:
    """Defaults of a reader kind, as the schema states them."""
    defs = schema()["$defs"]
    for branch in defs["reader"]["allOf"]:
        if branch["if"]["properties"]["kind"]["const"] == kind:
            defaults: dict[str, Any] = {}
            for name, prop in branch["then"]["properties"].items():
                if "$ref" in prop:
                    prop = defs[prop["$ref"].rsplit("/", 1)[1]]
                if "default" in prop:
                    defaults[name] = prop["default"]
            return defaults
    raise KeyError(kind)


def _with_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a checked mapping with every optional key present (see `Mapping`)."""
    out = copy.deepcopy(data)
    # values first, while absent keys are still absent
    for _, value in _values(out):
        value.setdefault("transform", [])
        if "scheme" not in value:  # an identifier takes no part or document
            value.setdefault("part", None)
            value.setdefault("document", False)
        if "concat" in value:
            value["concat"].setdefault("sep", " ")
        for step in value["transform"]:
            if isinstance(step, dict) and "regex" in step:
                step["regex"].setdefault("group", 0)
    out.setdefault("links", [])
    source = out["source"]
    source.setdefault("handling", None)
    source.setdefault("sharing", {"roles": []})
    out["reader"] = {**_reader_defaults(out["reader"]["kind"]), **out["reader"]}
    record = out["record"]
    if isinstance(record["id"], str):
        record["id"] = [record["id"]]
    for key in ("row_id", "marking", "occurred", "compartment", "handling", "sharing"):
        record.setdefault(key, None)
    if record["sharing"] is not None:
        record["sharing"].setdefault("caveat", None)
    for entity in out["entities"]:
        for key in ("type", "when", "each", "refers_to"):
            entity.setdefault(key, None)
        entity.setdefault("scope", "row")
        entity.setdefault("fields", {})
        for identifier in entity["fields"].get("identifiers", []):
            identifier.setdefault("when", None)
            identifier.setdefault("issuer", None)
        grading = entity["fields"].get("grading")
        if grading is not None:
            grading.setdefault("conditions", None)
    for link in out["links"]:
        for key in ("role", "when", "start", "end", "confidence"):
            link.setdefault(key, None)
    return out
