"""Turning arbitrary Python objects into JSON-safe snapshots, without ever raising."""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import decimal
import enum
import types
import uuid
from collections import deque
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import orjson

from ._privacy import MEDIA_MIN_CHARS, Privacy, media_placeholder

MAX_DEPTH = 32
MAX_ITEMS = 1_000
# Integers orjson writes as numbers; larger ones become strings.
JSON_INT_MIN = -(2**63)
JSON_INT_MAX = 2**64 - 1
_NOT_CONSUMED = (
    types.GeneratorType,
    types.AsyncGeneratorType,
    types.CoroutineType,
)


def truncate(text: str, max_chars: int) -> str:
    """Cut ``text`` to ``max_chars`` with a marker giving the original length."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}…[truncated: {len(text)} chars in total]"


# The privacy policy every captured string and key goes through; replaced by configure().
# Secret scrubbing is on by default, before any configuration.
PRIVACY: Privacy | None = Privacy()
REDACTED_VALUE = "[REDACTED:secret_key]"


def set_privacy(policy: Privacy | None) -> None:
    global PRIVACY
    PRIVACY = policy if policy is not None and policy.active else None


def to_jsonable(obj: Any, max_chars: int, privacy: Privacy | None = None) -> Any:
    """Return a JSON-safe snapshot of ``obj`` (dicts, lists, str, int, float, bool, None).

    Never raises and never consumes iterators; cycles, deep nesting and long strings or
    collections are replaced or cut with visible markers; secrets (and, when configured,
    personal data and embedded media) are replaced as the value is walked.
    """
    policy = privacy if privacy is not None else PRIVACY
    cls = type(obj)
    if cls is str:
        if policy is not None:
            obj = policy.text(obj)
        return obj if len(obj) <= max_chars else truncate(obj, max_chars)
    if obj is None or cls is bool or cls is float:
        return obj
    if cls is int:
        return obj if JSON_INT_MIN <= obj <= JSON_INT_MAX else str(obj)
    try:
        return _convert(obj, max_chars, 0, set(), policy)
    except Exception:
        return _safe_repr(obj, max_chars)


def field_to_jsonable(key: str, value: Any, max_chars: int, privacy: Privacy | None = None) -> Any:
    """Like :func:`to_jsonable` for a value stored under ``key``: credentials keys are redacted."""
    policy = privacy if privacy is not None else PRIVACY
    if policy is not None and value is not None and policy.secret_key(key):
        return REDACTED_VALUE
    return to_jsonable(value, max_chars, policy)


def _convert(obj: Any, max_chars: int, depth: int, path: set[int], policy: Privacy | None) -> Any:
    cls = type(obj)
    if cls is str:
        if policy is not None:
            obj = policy.text(obj)
        return obj if len(obj) <= max_chars else truncate(obj, max_chars)
    if obj is None or cls is bool or cls is float:
        return obj
    if cls is int:
        return obj if JSON_INT_MIN <= obj <= JSON_INT_MAX else str(obj)
    if depth >= MAX_DEPTH:
        return f"<max depth {MAX_DEPTH} reached: {cls.__qualname__}>"

    if cls is dict or cls is list or _is_container(obj):
        oid = id(obj)
        if oid in path:
            return f"<cycle: {cls.__qualname__}>"
        path.add(oid)
        try:
            # Plain dicts and lists (most of what LLM calls carry) skip the generic dispatch.
            if cls is dict:
                return _convert_mapping(obj, max_chars, depth + 1, path, policy)
            if cls is list:
                return _convert_items(obj, len(obj), max_chars, depth + 1, path, policy)
            return _convert_container(obj, max_chars, depth, path, policy)
        except Exception:
            return _safe_repr(obj, max_chars)
        finally:
            path.discard(oid)
    try:
        return _convert_scalar(obj, max_chars, depth, path, policy)
    except Exception:  # one odd object is recorded by its repr, not the list it sits in
        return _safe_repr(obj, max_chars)


def _is_container(obj: Any) -> bool:
    return isinstance(obj, (dict, list, tuple, set, frozenset, deque)) or (
        isinstance(obj, Mapping)
        or hasattr(type(obj), "model_dump")
        or (
            dataclasses.is_dataclass(obj)
            and not isinstance(obj, type)
            and not getattr(obj, "_recorded_by_repr", False)
        )
    )


def _convert_container(
    obj: Any, max_chars: int, depth: int, path: set[int], policy: Privacy | None
) -> Any:
    depth += 1
    if isinstance(obj, Mapping):
        return _convert_mapping(obj, max_chars, depth, path, policy)
    if isinstance(obj, tuple) and hasattr(obj, "_asdict"):  # NamedTuple: keep field names
        return _convert_mapping(obj._asdict(), max_chars, depth, path, policy)
    if isinstance(obj, (list, tuple, deque)):
        return _convert_items(obj, len(obj), max_chars, depth, path, policy)
    if isinstance(obj, (set, frozenset)):
        items: list[Any] = list(obj)
        try:
            items.sort()
        except TypeError:
            items.sort(key=repr)
        return _convert_items(items, len(items), max_chars, depth, path, policy)
    if hasattr(type(obj), "model_dump"):  # pydantic v2 models
        try:
            dumped = obj.model_dump(mode="python")
        except Exception:
            return _safe_repr(obj, max_chars)
        return _convert_mapping(dumped, max_chars, depth, path, policy)
    fields = {f.name: getattr(obj, f.name, None) for f in dataclasses.fields(obj)}
    return _convert_mapping(fields, max_chars, depth, path, policy)


def _convert_mapping(
    obj: Mapping[Any, Any], max_chars: int, depth: int, path: set[int], policy: Privacy | None
) -> Any:
    out: dict[str, Any] = {}
    for i, (key, value) in enumerate(obj.items()):
        if i >= MAX_ITEMS:
            out["…"] = f"[{len(obj) - MAX_ITEMS} more entries not recorded]"
            break
        skey = key if type(key) is str else _key_to_str(key)
        if policy is not None:
            if value is not None and policy.secret_key(skey):
                out[skey] = REDACTED_VALUE
                continue
            if skey == "data" and type(value) is str and not policy.keep_media:
                # Anthropic/OpenAI media blocks: {"type": "base64", "media_type": ..., "data": ...}
                media_type = obj.get("media_type") or obj.get("format")
                placeholder = media_placeholder(value, str(media_type) if media_type else None)
                if placeholder is not None and len(value) >= MEDIA_MIN_CHARS:
                    out[skey] = placeholder
                    continue
        vcls = type(value)
        if vcls is str:  # the common leaf, inline: no call, no dispatch
            text = value if policy is None else policy.text(value)
            out[skey] = text if len(text) <= max_chars else truncate(text, max_chars)
        elif value is None or vcls is bool or vcls is float:
            out[skey] = value
        else:
            out[skey] = _convert(value, max_chars, depth, path, policy)
    return out


def _convert_items(
    items: Any, size: int, max_chars: int, depth: int, path: set[int], policy: Privacy | None
) -> list[Any]:
    out = [
        _convert(v, max_chars, depth, path, policy)
        for _, v in zip(range(MAX_ITEMS), items, strict=False)
    ]
    if size > MAX_ITEMS:
        out.append(f"…[{size - MAX_ITEMS} more items not recorded]")
    return out


def _key_to_str(key: Any) -> str:
    if isinstance(key, enum.Enum):
        key = key.value
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        return key.decode("utf-8", "backslashreplace")
    try:
        return str(key)
    except Exception:
        return f"<{type(key).__qualname__} key>"


def _convert_scalar(
    obj: Any, max_chars: int, depth: int, path: set[int], policy: Privacy | None
) -> Any:
    if isinstance(obj, enum.Enum):
        return _convert(obj.value, max_chars, depth + 1, path, policy)
    if isinstance(obj, str):  # str subclasses
        return _convert(str.__str__(obj), max_chars, depth, path, policy)
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        value = int(obj)
        return value if JSON_INT_MIN <= value <= JSON_INT_MAX else str(value)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return _scrub(policy, _bytes_to_str(bytes(obj), max_chars))
    if isinstance(obj, (_dt.datetime, _dt.date, _dt.time)):
        return obj.isoformat()
    if isinstance(obj, _dt.timedelta):
        return obj.total_seconds()
    if isinstance(obj, (decimal.Decimal, uuid.UUID, PurePath, complex)):
        return str(obj)
    if isinstance(obj, _NOT_CONSUMED):
        return _safe_repr(obj, max_chars)
    if isinstance(obj, BaseException):
        message = _scrub(policy, _safe_str(obj, max_chars))
        return {"type": type(obj).__qualname__, "message": message}
    cls = type(obj)
    # numpy arrays and scalars; looked up on the type, where a mock does not invent them
    if hasattr(cls, "dtype") and hasattr(cls, "tolist"):
        return _convert_array(obj, max_chars, depth, path, policy)
    return _scrub(policy, _safe_repr(obj, max_chars))


def _scrub(policy: Privacy | None, text: str) -> str:
    # For text this module produced itself (already cut to size): scrub, do not cut again.
    return text if policy is None else policy.text(text)


def _convert_array(
    obj: Any, max_chars: int, depth: int, path: set[int], policy: Privacy | None
) -> Any:
    size = getattr(obj, "size", 1)
    if isinstance(size, int) and size > MAX_ITEMS:
        return (
            f"<{type(obj).__qualname__} shape={getattr(obj, 'shape', '?')} "
            f"dtype={obj.dtype}: {size} values not recorded>"
        )
    return _convert(obj.tolist(), max_chars, depth + 1, path, policy)


def _bytes_to_str(data: bytes, max_chars: int) -> str:
    try:
        return truncate(data.decode("utf-8"), max_chars)
    except UnicodeDecodeError:
        kept = max_chars * 3 // 4  # base64 grows by 4/3: keep the encoded text near max_chars
        encoded = base64.b64encode(data[:kept]).decode("ascii")
        suffix = f"…[truncated: {len(data)} bytes]" if len(data) > kept else ""
        return f"<bytes base64:{encoded}{suffix}>"


def _safe_repr(obj: Any, max_chars: int) -> str:
    try:
        text = repr(obj)
    except Exception:
        return f"<{type(obj).__qualname__} object (repr failed)>"
    if type(text) is not str:
        return f"<{type(obj).__qualname__} object (repr failed)>"
    return truncate(text, max_chars)


def _safe_str(obj: Any, max_chars: int) -> str:
    try:
        return truncate(str(obj), max_chars)
    except Exception:
        return _safe_repr(obj, max_chars)


# Snapshots already have str keys and plain values; OPT_NON_STR_KEYS costs about a microsecond
# per record, so it is used only on the slow path (hand-built records, surrogates).
_SAFE_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def dumps(record: Any) -> bytes:
    """Serialise an exported record to JSON bytes; never raises for JSON-safe input.

    Strings with lone surrogates (e.g. from ``os.fsdecode`` of non-UTF-8 names) are not valid
    UTF-8, so orjson rejects them; they are then rewritten with U+FFFD.
    """
    try:
        return orjson.dumps(record, default=_fallback)
    except (orjson.JSONEncodeError, TypeError):
        return orjson.dumps(_scrub_surrogates(record), option=_SAFE_OPTIONS, default=_fallback)


def _fallback(obj: Any) -> Any:
    return to_jsonable(obj, 100_000)


def _scrub_surrogates(obj: Any) -> Any:
    # Also what else orjson refuses in a record: integers beyond 64 bits become strings.
    if isinstance(obj, str):
        return obj.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if type(obj) is int and not JSON_INT_MIN <= obj <= JSON_INT_MAX:
        return str(obj)
    if isinstance(obj, dict):
        return {_scrub_surrogates(k): _scrub_surrogates(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_scrub_surrogates(v) for v in obj]
    return obj
