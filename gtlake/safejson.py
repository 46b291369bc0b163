"""Untrusted JSON read so that no value can stop a run: every failure is a reason code, never an exception.

Ground Truth files are written by tools, edited by people and copied by scripts; one of them can hold anything.
Python's own parser raises RecursionError on deep nesting, ValueError on an integer of more than 4,300 digits
and keeps invalid UTF-8 only if asked; downstream, a lone surrogate cannot be encoded, a huge integer cannot
become a float and a 30 MB string should not become a column value. This module turns each of those into a
reason that refuses the one record holding it:

* `decode` + `loads` read a whole document (a manifest line, a file) or raise `BadDocument` with the reason
  (`invalid_json`, `nesting_too_deep`); invalid UTF-8 bytes survive as lone surrogates, so the rest of the
  document is still read and only the records holding them are refused;
* `problem(value)` is the first reason a parsed value cannot be stored (`invalid_utf8`, `oversized_value`,
  `nesting_too_deep`), or None;
* `clean(value)` and `record_text` give a copy that is always valid, bounded UTF-8 text: what `rejected.record`
  holds (invalid bytes written as `\\xNN`, long strings and numbers cut).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

BOM = b"\xef\xbb\xbf"
MAX_DEPTH = 64  # objects and arrays nested deeper than this: nesting_too_deep (real Ground Truth output: < 10)
MAX_STRING_CHARS = 65_536  # a longer string (or key) anywhere in a record: oversized_value
MAX_NUMBER_CHARS = 64  # a number written with more characters: oversized_value (a double has 17 digits)
CUT_CHARS = 200  # how much of an oversized string or number `clean` keeps
# Times outside these bounds are refused: they are not a real task's, and they overflow on the way to UTC,
# to Spark or to pandas (year 1 in one time zone is year 0 in UTC).
TIME_MIN = datetime(1970, 1, 1, tzinfo=timezone.utc)
TIME_MAX = datetime(2200, 1, 1, tzinfo=timezone.utc)
INT32_MAX = 2**31 - 1


class BadDocument(ValueError):
    """A document that cannot be parsed at all: `reason` (a reason code) and `detail`."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class BigNumber(str):
    """A JSON number too long to be a value, kept as its text (refused by `problem` as oversized_value)."""


def strip_bom(data: bytes) -> bytes:
    """`data` without a UTF-8 byte-order mark at its start (editors on Windows write one)."""
    return data[len(BOM):] if data.startswith(BOM) else data


def decode(data: bytes) -> str:
    """UTF-8 text of `data`, BOM removed; invalid bytes kept as lone surrogates (U+DC80-U+DCFF) so the document
    still parses and `problem` can refuse the one value that holds them."""
    return strip_bom(data).decode("utf-8", errors="surrogateescape")


def _number(text: str, convert: type) -> object:
    return BigNumber(text) if len(text) > MAX_NUMBER_CHARS else convert(text)


def loads(text: str) -> object:
    """The parsed document, or BadDocument('invalid_json' | 'nesting_too_deep', detail)."""
    try:
        return json.loads(text, parse_int=lambda s: _number(s, int), parse_float=lambda s: _number(s, float))
    except RecursionError:
        raise BadDocument("nesting_too_deep", "objects or arrays nested too deep to parse") from None
    except json.JSONDecodeError as e:
        raise BadDocument("invalid_json", f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except ValueError as e:  # parse_constant and friends: anything else the parser cannot turn into a value
        raise BadDocument("invalid_json", f"not valid JSON: {e}") from None


def _bad_text(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def problem(value: object, max_depth: int = MAX_DEPTH) -> tuple[str, str] | None:
    """(reason, detail) of the first value inside `value` that cannot be stored, or None when all can."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, BigNumber):
            return "oversized_value", f"a number written with {len(v):,} characters (at most {MAX_NUMBER_CHARS})"
        if isinstance(v, str):
            if len(v) > MAX_STRING_CHARS:
                return "oversized_value", f"a string of {len(v):,} characters (at most {MAX_STRING_CHARS:,})"
            if _bad_text(v):
                return "invalid_utf8", "a string holds bytes that are not UTF-8 text (escaped as \\xNN in record)"
            continue
        if isinstance(v, (dict, list)):
            if depth >= max_depth:
                return "nesting_too_deep", f"objects or arrays nested deeper than {max_depth} levels"
            items = v.items() if isinstance(v, dict) else enumerate(v)
            for k, item in items:
                if isinstance(k, str):
                    stack.append((k, depth + 1))
                stack.append((item, depth + 1))
    return None


def escape(s: str) -> str:
    """`s` as valid UTF-8 text: invalid bytes written as \\xNN, other lone surrogates (a JSON \\udXXX escape) as
    \\udXXX."""
    if not _bad_text(s):
        return s
    try:
        return s.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")
    except UnicodeEncodeError:
        return s.encode("utf-8", errors="backslashreplace").decode("utf-8")


def _cut(s: str) -> str:
    return s if len(s) <= MAX_STRING_CHARS else s[:CUT_CHARS] + f"...[{len(s):,} characters]"


def clean(value: object, depth: int = 0) -> object:
    """A copy of `value` that can always be stored and dumped: strings escaped and cut, oversized numbers as
    cut text, nesting below MAX_DEPTH replaced by a note."""
    if isinstance(value, BigNumber):
        return value[:CUT_CHARS] + f"...[{len(value):,} characters]"
    if isinstance(value, str):
        return escape(_cut(value))
    if isinstance(value, (dict, list)) and depth >= MAX_DEPTH:
        return f"[nested deeper than {MAX_DEPTH} levels]"
    if isinstance(value, dict):
        return {escape(_cut(str(k))): clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v, depth + 1) for v in value]
    return value


def dumps(value: object) -> str:
    """Compact JSON text of a value that passed `problem` (or was `clean`ed)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def record_text(value: object, limit: int) -> str:
    """What `rejected.record` holds for a refused value or raw text: valid UTF-8, at most `limit` characters."""
    if isinstance(value, bytes):
        text = value[: limit * 4].decode("utf-8", errors="backslashreplace")
    elif isinstance(value, str) and not isinstance(value, BigNumber):
        text = escape(value[: limit * 2])
    else:
        text = dumps(clean(value))
    return text[:limit]


def in_time_range(t: datetime) -> bool:
    """Whether a parsed time (aware) is one a Ground Truth task can have (TIME_MIN <= t < TIME_MAX)."""
    return TIME_MIN <= t < TIME_MAX


def for_script(obj: object) -> str:
    """`obj` as JSON safe to put inside an HTML <script> element (the pages' payloads): `<`, `>` and `&` escaped,
    so no string of it (a worker-written name) can close the element or open another; NaN refused."""
    return json.dumps(obj, default=str, allow_nan=False).replace("<", "\\u003c").replace(">", "\\u003e").replace(
        "&", "\\u0026")
