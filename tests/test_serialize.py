"""Captured inputs and outputs: odd objects never raise and come out JSON-safe."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import enum
import json
import uuid
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracekit
from tracekit._privacy import Privacy
from tracekit._serialize import dumps, snapshot, to_jsonable, truncate


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class User(pydantic.BaseModel):
    name: str
    tags: list[str]


class Pair(NamedTuple):
    left: int
    right: int


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class FakeArray:
    """Looks like a numpy array: dtype, size, shape, tolist()."""

    dtype = "float32"

    def __init__(self, n: int) -> None:
        self.size = n
        self.shape = (n,)

    def tolist(self) -> list[float]:
        return [0.5] * self.size


def test_common_types_convert() -> None:
    """Models, dataclasses, enums, datetimes, Decimal, UUID, paths, sets, tuples convert."""
    value = {
        "user": User(name="ann", tags=["a"]),
        "point": Point(1, 2),
        "color": Color.RED,
        "when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "day": dt.date(2026, 1, 2),
        "price": decimal.Decimal("1.10"),
        "id": uuid.UUID(int=1),
        "path": Path("/tmp/x"),
        "set": {3, 1, 2},
        "tuple": (1, "a"),
        "pair": Pair(1, 2),
        "delta": dt.timedelta(seconds=1.5),
        Color.RED: 1,
        7: "int key",
    }
    out = to_jsonable(value, 1000)
    assert out == {
        "user": {"name": "ann", "tags": ["a"]},
        "point": {"x": 1, "y": 2},
        "color": "red",
        "when": "2026-01-02T03:04:05+00:00",
        "day": "2026-01-02",
        "price": "1.10",
        "id": "00000000-0000-0000-0000-000000000001",
        "path": "/tmp/x",
        "set": [1, 2, 3],
        "tuple": [1, "a"],
        "pair": {"left": 1, "right": 2},
        "delta": 1.5,
        "red": 1,
        "7": "int key",
    }
    json.loads(dumps(out))


def test_bytes_utf8_and_not() -> None:
    """UTF-8 bytes become text; other bytes become a base64 marker."""
    assert to_jsonable(b"hello", 100) == "hello"
    out = to_jsonable(b"\xff\xfe\x00", 100)
    assert out.startswith("<bytes base64:")


def test_cycles_and_depth() -> None:
    """A self-referencing structure is cut with a cycle marker instead of recursing."""
    a: list[Any] = [1]
    a.append(a)
    d: dict[str, Any] = {}
    d["self"] = d
    assert to_jsonable(a, 100) == [1, "<cycle: list>"]
    assert to_jsonable(d, 100) == {"self": "<cycle: dict>"}
    deep: Any = []
    for _ in range(100):
        deep = [deep]
    json.loads(dumps(to_jsonable(deep, 100)))


def test_shared_reference_is_not_a_cycle() -> None:
    """The same object twice (not nested in itself) is recorded twice."""
    shared = [1, 2]
    assert to_jsonable({"a": shared, "b": shared}, 100) == {"a": [1, 2], "b": [1, 2]}


def test_generators_are_not_consumed() -> None:
    """A generator is recorded by repr and still yields all its items afterwards."""
    gen = (i for i in range(3))
    out = to_jsonable({"g": gen}, 100)
    assert out["g"].startswith("<generator object")
    assert list(gen) == [0, 1, 2]


def test_failing_repr_and_unknown_objects() -> None:
    """An object whose repr raises becomes a placeholder; others use repr."""
    assert to_jsonable(BadRepr(), 100) == "<BadRepr object (repr failed)>"
    assert to_jsonable(object(), 100).startswith("<object object at")


def test_long_strings_and_collections_are_cut_with_marker() -> None:
    """Strings over the limit keep a prefix and say how long they were."""
    out = to_jsonable("x" * 500, 100)
    assert out.startswith("x" * 100)
    assert out.endswith("[truncated: 500 chars in total]")
    assert truncate("short", 100) == "short"
    big = to_jsonable(list(range(5000)), 100)
    assert len(big) == 1001
    assert big[-1] == "…[4000 more items not recorded]"


def test_numpy_like_arrays() -> None:
    """Array-likes become lists when small, a summary when large."""
    assert to_jsonable(FakeArray(3), 100) == [0.5, 0.5, 0.5]
    assert "values not recorded" in to_jsonable(FakeArray(10_000), 100)


def test_mocks_are_recorded_by_repr() -> None:
    """A mock answers every attribute (dtype, tolist...); it is recorded by its repr, not
    followed down to the depth limit as an array."""
    from unittest.mock import MagicMock

    recorded = to_jsonable({"client": MagicMock(name="client")}, 100)["client"]
    assert recorded.startswith("<MagicMock name='client'")


def test_an_object_that_fails_to_convert_spoils_only_itself() -> None:
    """An object whose conversion raises is recorded by its repr; its neighbours are kept."""

    class BrokenArray:
        dtype = "float32"

        def tolist(self) -> list[float]:
            raise RuntimeError("device memory")

        def __repr__(self) -> str:
            return "<BrokenArray>"

    assert to_jsonable([1, BrokenArray(), {"k": "v"}], 100) == [1, "<BrokenArray>", {"k": "v"}]


def test_huge_ints_and_special_floats() -> None:
    """Ints beyond 64 bits become strings; NaN serialises as null."""
    assert to_jsonable(2**70, 100) == str(2**70)
    assert json.loads(dumps({"v": float("nan")})) == {"v": None}


def test_lone_surrogates_are_scrubbed_on_dump() -> None:
    """Strings that are not valid UTF-8 (lone surrogates) still serialise."""
    bad = b"caf\xe9".decode("utf-8", "surrogateescape")
    out = json.loads(dumps({"name": bad}))
    assert out["name"].startswith("caf")


def test_odd_inputs_reach_the_exported_record(collected: Any) -> None:
    """A traced function with odd arguments still exports a valid record."""

    @tracekit.trace
    def handle(obj: Any, data: bytes, items: set[int]) -> Any:
        return BadRepr()

    cyclic: dict[str, Any] = {}
    cyclic["me"] = cyclic
    handle(cyclic, b"\x80\x81", {1})
    trace = collected.trace()
    span = trace["spans"][0]
    assert span["inputs"]["obj"] == {"me": "<cycle: dict>"}
    assert span["outputs"] == "<BadRepr object (repr failed)>"
    json.loads(tracekit.Trace.to_json(collected.exporter.traces[0]))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=5)
        | st.tuples(children, children)
        | st.frozensets(st.integers(), max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_anything_serialises(value: Any) -> None:
    """Property: any nesting of basic values converts and dumps without raising."""
    out = to_jsonable(value, 50)
    orjson.loads(dumps(out))


def test_binary_truncation_always_marked() -> None:
    """Binary data longer than what is kept always carries the truncation marker."""
    for size in range(40, 60):
        out = to_jsonable(b"\xff" * size, 65)
        kept = 65 * 3 // 4
        assert ("truncated" in out) == (size > kept), size


# -- snapshot(): to_jsonable in one orjson round trip when nothing needs a closer look ---------

_B64 = base64.b64encode(bytes(range(256)) * 6).decode()  # 2048 chars of base64
_SECRET = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"


def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def _nested_dicts(levels: int) -> Any:
    # brackets and escaped quotes inside strings must not be taken for structure
    value: Any = {"s": '[[{{"\\'}
    for _ in range(levels - 1):
        value = {"k": value, "q": ']]}}"'}
    return value


SNAPSHOT_CASES: list[Any] = [
    [{"role": "user", "content": "Where is my order?"}],
    {"x": _SECRET},
    {"note": f"use {_SECRET} here", "n": 3},
    {"api_key": "not-a-known-shape"},
    {"Authorization": "abc"},
    {"max_tokens": 3, "input_tokens": 5, "tool_call_id": "call_1"},
    {"x-Api-Key": "k"},
    {"token\n": "a key that ends in a newline"},
    {"x\u017fecret": "long s folds to s"},
    {"to\u212aen": "Kelvin sign folds to k"},
    {'a"token': "escaped quote in the key"},
    {"data": _B64, "media_type": "image/png"},
    {"image": _B64},
    {"image": "\n".join(_B64[i : i + 76] for i in range(0, len(_B64), 76))},
    {"url": "data:image/png;base64," + _B64[:1010]},
    {"text": "plain words " * 200},
    {"text": "a" * 30_000},
    _nested(31),
    _nested(32),
    _nested(33),
    _nested(40),
    _nested_dicts(32),
    _nested_dicts(33),
    [[i] for i in range(40)],
    list(range(999)),
    list(range(1000)),
    list(range(1001)),
    {str(i): i for i in range(1001)},
    ("a", ("b",)),
    {"e": Color.RED},
    {"when": dt.date(2026, 1, 2)},
    {"p": Point(1, 2)},
    {1: "non-str key"},
    {"big": 2**70},
    {"s": "lone \udc80 surrogate"},
    {"bytes": b"raw"},
    {"set": {3, 1}},
    User(name="Ann", tags=["a"]),
]


@pytest.mark.parametrize("value", SNAPSHOT_CASES, ids=lambda v: repr(v)[:40])
def test_snapshot_equals_to_jsonable(value: Any) -> None:
    """The orjson round trip gives exactly what the walk gives: secrets, credential keys,
    media, long strings, deep nesting and long containers are all noticed and left to it."""
    assert snapshot(value, 20_000) == to_jsonable(value, 20_000)


def test_snapshot_never_raises_on_a_broken_fragment() -> None:
    """orjson writes a Fragment's bytes as they are; invalid ones take the walk."""
    value = {"a": orjson.Fragment(b"not json")}
    assert snapshot(value, 1_000) == to_jsonable(value, 1_000)


def test_snapshot_is_a_copy() -> None:
    """Like the walk, the round trip copies: changing the caller's list later changes nothing."""
    messages = [{"role": "user", "content": "hi"}]
    out = snapshot(messages, 20_000)
    messages[0]["content"] = "changed"
    messages.append({"role": "user", "content": "more"})
    assert out == [{"role": "user", "content": "hi"}]


def test_snapshot_follows_the_policy() -> None:
    """User patterns and maskers are applied too (those go through the walk)."""
    policy = Privacy(secret_patterns={"ticket": r"TCK-\d+"}, mask=["email"])
    value = {"text": "TCK-123 from ann@example.com"}
    assert snapshot(value, 20_000, policy) == to_jsonable(value, 20_000, policy)
    assert "TCK-123" not in str(snapshot(value, 20_000, policy))


json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from([_SECRET, "Bearer abcdefghijklmnop.qrst", "ghp_" + "a" * 36, "x" * 60]),
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(
            st.text(max_size=12) | st.sampled_from(["api_key", "token", "Secret", "role", "id"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(json_like, st.sampled_from([64, 200, 20_000]))
def test_snapshot_equals_to_jsonable_property(value: Any, max_chars: int) -> None:
    """Property: for any JSON-like value and limit, the round trip and the walk agree."""
    assert snapshot(value, max_chars) == to_jsonable(value, max_chars)
