"""Captured inputs and outputs: odd objects never raise and come out JSON-safe."""

from __future__ import annotations

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
from hypothesis import given, settings
from hypothesis import strategies as st

import tracekit
from tracekit._serialize import dumps, to_jsonable, truncate


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
