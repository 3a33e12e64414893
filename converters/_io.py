"""What every format's ``read_X`` / ``write_X`` and ``from_X`` share."""

from __future__ import annotations

import os
from collections.abc import Callable

import networkx as nx

from flowparse.errors import FlowparseError, FormatError, GraphError
from flowparse.files import read_text, write_text_atomic
from flowparse.graph import validate_graph


def read_graph(path: str | os.PathLike, from_text: Callable[[str], nx.DiGraph]) -> nx.DiGraph:
    """Parse the file at ``path`` with ``from_text``; errors name the file."""
    text = read_text(path)
    try:
        return from_text(text)
    except FlowparseError as e:
        raise e.with_source(path) from None


def write_graph(G: nx.DiGraph, path: str | os.PathLike, to_text: Callable[[nx.DiGraph], str]) -> None:
    """Write ``to_text(G)`` to ``path`` atomically."""
    write_text_atomic(path, to_text(G))


def checked(G: nx.DiGraph) -> nx.DiGraph:
    """``G`` validated, a contract violation in read text reported as a :class:`FormatError`."""
    try:
        return validate_graph(G)
    except GraphError as e:
        raise FormatError(f"invalid graph: {e.problem}") from None
