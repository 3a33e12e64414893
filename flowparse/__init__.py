"""flowparse: flowchart images to graphs.

>>> import flowparse
>>> G = flowparse.new_graph(200, 100)
>>> flowparse.add_shape(G, "diamond", (10, 10, 90, 60), "ok?")
'n0'

Importing flowparse stays light: torch, transformers, OpenCV and the OCR engine are imported
only by the backends that use them.
"""

from flowparse._version import __version__
from flowparse.api import Parser, load, parse
from flowparse.documents import parse_document  # light: PDF and OpenCV load inside it
from flowparse.errors import FlowparseError, FormatError, GraphError, InputError
from flowparse.graph import (
    ARROWS,
    SHAPES,
    add_arrow,
    add_shape,
    canonical_shape,
    new_graph,
    validate_graph,
)

__all__ = [
    "__version__",
    "ARROWS",
    "SHAPES",
    "FlowparseError",
    "FormatError",
    "GraphError",
    "InputError",
    "Parser",
    "add_arrow",
    "add_shape",
    "canonical_shape",
    "load",
    "new_graph",
    "parse",
    "parse_document",
    "validate_graph",
]
