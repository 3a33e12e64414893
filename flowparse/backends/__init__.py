"""Detectors that turn an image into a flowchart graph, behind a small registry.

A backend is a class (or any callable) built as ``factory(model=None, **options)`` whose
instances have ``parse(image, *, source="") -> nx.DiGraph`` and
``parse_many(images, *, batch_size, sources) -> list[nx.DiGraph]``, ``image`` being an RGB
:class:`PIL.Image.Image`. Built-in backends are registered as ``"module:attr"`` strings, so naming
one imports nothing heavy; third-party packages add theirs through the entry-point group
``flowparse.backends`` (``name = "package.module:Factory"``).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any, Protocol

import networkx as nx

from flowparse.errors import FlowparseError

__all__ = [
    "ENTRY_POINT_GROUP",
    "Backend",
    "BackendError",
    "register_backend",
    "get_backend",
    "available_backends",
]

#: Entry-point group where third-party packages register backends.
ENTRY_POINT_GROUP = "flowparse.backends"

_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")

_REGISTRY: dict[str, Callable[..., Any] | str] = {
    "classical": "flowparse.backends.classical:ClassicalBackend",
    "internvl": "flowparse.backends.internvl:InternVLBackend",
}
_ENTRY_POINTS_LOADED = False


class BackendError(FlowparseError, LookupError):
    """A backend name is unknown, taken, or its code cannot be imported."""


class Backend(Protocol):
    """What :func:`flowparse.parse` needs from a detector."""

    def parse(self, image: Any, *, source: str = "") -> nx.DiGraph:
        """The flowchart graph of one RGB PIL image."""

    def parse_many(self, images: list, *, batch_size: int, sources: list[str]) -> list[nx.DiGraph]:
        """The graphs of several images, in order."""


def register_backend(name: str, factory: Callable[..., Any] | str, *, replace: bool = False) -> None:
    """Register ``factory`` (a callable or a ``"module:attr"`` string) under a lowercase ``name``.

    >>> register_backend("echo-demo", "flowparse.backends.classical:ClassicalBackend")
    >>> "echo-demo" in available_backends()
    True
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise BackendError(f"backend name {name!r} must be lowercase letters, digits, '_' or '-'")
    if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
        raise BackendError(f"backend {name!r}: factory must be callable or a 'module:attr' string")
    _load_entry_points()
    if name in _REGISTRY and not replace and _REGISTRY[name] != factory:
        raise BackendError(f"backend {name!r} is already registered (pass replace=True to override)")
    _REGISTRY[name] = factory


def get_backend(name: str) -> Callable[..., Any]:
    """The factory registered as ``name``, importing its module if it was given as a string.

    >>> get_backend("classical").__name__
    'ClassicalBackend'
    """
    _load_entry_points()
    key = str(name).strip().lower()
    if key not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise BackendError(f"unknown backend {name!r} (available: {known})")
    factory = _REGISTRY[key]
    if isinstance(factory, str):
        factory = _import_factory(key, factory)
        _REGISTRY[key] = factory
    return factory


def available_backends() -> list[str]:
    """The registered backend names, sorted (nothing is imported to list them).

    >>> "classical" in available_backends() and "internvl" in available_backends()
    True
    """
    _load_entry_points()
    return sorted(_REGISTRY)


def _import_factory(name: str, spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
        factory = getattr(module, attr)
    except ImportError as e:
        missing = f" (missing {e.name}: install the extra, e.g. pip install 'flowparse[{name}]')" if e.name else ""
        raise BackendError(f"backend {name!r} cannot be imported from {spec}{missing}: {e}") from e
    except AttributeError:
        raise BackendError(f"backend {name!r}: {module_name} has no {attr!r}") from None
    return factory


def _load_entry_points() -> None:
    """Add third-party backends once; a built-in name is never taken over by a plugin."""
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        key = ep.name.strip().lower()
        if _NAME.match(key) and key not in _REGISTRY:
            _REGISTRY[key] = ep.value
