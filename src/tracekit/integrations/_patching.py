"""Applying and undoing class-level patches, including before the library is imported."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import wrapt

from tracekit._internal import logger

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


# wrapt 1.x classes cannot be subscripted at run time; only the type checker sees the generic.
if TYPE_CHECKING:
    _FunctionWrapper = wrapt.FunctionWrapper[Any, Any]
else:
    _FunctionWrapper = wrapt.FunctionWrapper


class TracekitWrapper(_FunctionWrapper):
    """tracekit's own method wrapper, told apart from other instrumentations' wrapt wrappers."""


@dataclass(frozen=True)
class Patch:
    """One method to wrap: ``module`` · ``Class.method`` with ``wrapper``."""

    module: str
    target: str  # "Class.method"
    wrapper: Wrapper


class PatchSet:
    """The patches of one integration: idempotent apply, exact undo.

    ``apply()`` patches now if the library is imported, or from a post-import hook when it is
    imported later. Missing modules or attributes (older releases) are skipped.
    """

    def __init__(
        self,
        package: str,
        patches: Callable[[], Sequence[Patch]],
        min_version: tuple[int, ...] = (),
    ) -> None:
        self.package = package
        self.min_version = min_version
        self._patches = patches
        self._originals: dict[tuple[Any, str], Any] = {}
        self._lock = threading.Lock()
        self._wanted = False
        self._hook_registered = False
        self._checked_version: bool | None = None

    @property
    def applied(self) -> bool:
        return bool(self._originals)

    def apply(self) -> None:
        with self._lock:
            self._wanted = True
            if self.package in sys.modules:
                self._apply_locked()
            elif not self._hook_registered:
                self._hook_registered = True
                wrapt.register_post_import_hook(self._on_import, self.package)

    def _on_import(self, _module: Any) -> None:
        with self._lock:
            if self._wanted:
                self._apply_locked()

    def _apply_locked(self) -> None:
        if self._originals or not self._supported():
            return
        for patch in self._patches():
            owner_path, _, attr = patch.target.rpartition(".")
            try:
                module = importlib.import_module(patch.module)
                owner: Any = module
                for part in owner_path.split("."):
                    owner = getattr(owner, part)
                original = owner.__dict__[attr]
            except (ImportError, AttributeError, KeyError, TypeError):
                logger.debug("tracekit: %s.%s not found; not patched", patch.module, patch.target)
                continue
            if (owner, attr) in self._originals or isinstance(original, TracekitWrapper):
                continue  # the same class reached through another module path, or ours
            if isinstance(original, wrapt.FunctionWrapper):
                # Another instrumentation (OpenInference, OpenLLMetry...) got there first: wrap
                # its wrapper, so both record; disable puts it back as it was.
                logger.debug(
                    "tracekit: %s.%s is wrapped already; wrapping over it",
                    patch.module,
                    patch.target,
                )
            self._originals[(owner, attr)] = original
            setattr(owner, attr, TracekitWrapper(original, patch.wrapper))

    def _supported(self) -> bool:
        if self._checked_version is not None:  # importlib.metadata is slow: once per process
            return self._checked_version
        self._checked_version = self._check_version()
        return self._checked_version

    def _check_version(self) -> bool:
        try:
            found = importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return True  # vendored or renamed: try, missing targets are skipped
        numbers = tuple(int(part) for part in re.findall(r"\d+", found)[: len(self.min_version)])
        if numbers >= self.min_version:
            return True
        wanted = ".".join(map(str, self.min_version))
        logger.warning(
            "tracekit: %s %s is older than the oldest supported release (%s); not instrumented",
            self.package,
            found,
            wanted,
        )
        return False

    def remove(self) -> None:
        """Restore every original attribute exactly (the same objects)."""
        with self._lock:
            self._wanted = False
            for (owner, attr), original in self._originals.items():
                setattr(owner, attr, original)
            self._originals.clear()
