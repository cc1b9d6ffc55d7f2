"""The patch registry: minimum versions, missing targets, exact undo."""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from tracekit.integrations._patching import Patch, PatchSet


@pytest.fixture
def fake_package(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    module = types.ModuleType("tk_fake_sdk")

    class Client:
        def call(self, x: int) -> int:
            return x * 2

    module.Client = Client  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tk_fake_sdk", module)
    yield module


def _doubling(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    return wrapped(*args, **kwargs) * 10


def test_apply_is_idempotent_and_remove_restores(fake_package: Any) -> None:
    """Applying twice wraps once; remove() puts back the same function object."""
    original = fake_package.Client.__dict__["call"]
    patches = PatchSet("tk_fake_sdk", lambda: [Patch("tk_fake_sdk", "Client.call", _doubling)])
    patches.apply()
    patches.apply()
    assert fake_package.Client().call(1) == 20
    patches.remove()
    assert fake_package.Client.__dict__["call"] is original


def test_missing_targets_are_skipped(fake_package: Any) -> None:
    """A target an older release lacks is skipped; the rest is patched."""
    patches = PatchSet(
        "tk_fake_sdk",
        lambda: [
            Patch("tk_fake_sdk", "Client.gone", _doubling),
            Patch("tk_fake_sdk.nowhere", "X.y", _doubling),
            Patch("tk_fake_sdk", "Client.call", _doubling),
        ],
    )
    patches.apply()
    assert fake_package.Client().call(2) == 40
    patches.remove()


def test_too_old_release_is_not_patched(
    fake_package: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Below the minimum supported version nothing is patched and a warning says why."""
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.9.1")
    patches = PatchSet(
        "tk_fake_sdk", lambda: [Patch("tk_fake_sdk", "Client.call", _doubling)], (1, 2)
    )
    with caplog.at_level(logging.WARNING, logger="tracekit"):
        patches.apply()
    assert fake_package.Client().call(1) == 2
    assert "older than the oldest supported release (1.2)" in caplog.text
