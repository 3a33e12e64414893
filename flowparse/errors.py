"""The errors flowparse raises: every one a ``FlowparseError`` that names its input."""

from __future__ import annotations

import os

__all__ = ["FlowparseError", "GraphError", "FormatError", "InputError"]


class FlowparseError(Exception):
    """Base class of every error flowparse raises on purpose.

    ``source`` names the input (a file path, ``"<stdin>"``, a page) when one is known; the
    message then reads ``source: problem``, so one line in a log says what failed and why.

    >>> str(FlowparseError("not an image", source="chart.txt"))
    'chart.txt: not an image'
    """

    def __init__(self, problem: str, *, source: str | os.PathLike | None = None):
        self.problem = problem
        self.source = None if source is None else os.fspath(source)
        super().__init__(problem if self.source is None else f"{self.source}: {problem}")

    def with_source(self, source: str | os.PathLike) -> FlowparseError:
        """The same error, naming ``source`` (kept if one was already named)."""
        if self.source is not None:
            return self
        return type(self)(self.problem, source=source)


class GraphError(FlowparseError, ValueError):
    """A graph breaks the contract of ``flowparse.graph`` (the message names the node or edge)."""


class FormatError(FlowparseError, ValueError):
    """Text in DOT, JSON or Mermaid could not be read."""


class InputError(FlowparseError, ValueError):
    """An input file or image cannot be used (missing, unreadable, not an image, too large)."""
