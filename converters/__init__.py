"""Converters between the flowchart graph and DOT, JSON and Mermaid text.

Installed as ``flowparse.converters``. Each format has the same four functions, named as in
networkx: ``to_X(G) -> str``, ``from_X(text) -> G``, ``write_X(G, path)``, ``read_X(path) -> G``.

>>> from flowparse.converters import from_mermaid, to_json
>>> G = from_mermaid("flowchart TD\\n  a[Start] --> b{ok?}")
>>> sorted(G.nodes(data="shape"))
[('a', 'rectangle'), ('b', 'diamond')]
"""

if __name__ != "flowparse.converters":  # the folder is mapped into the flowparse package
    raise ImportError("import flowparse.converters, not the top-level 'converters' folder")

from flowparse.converters.dot import from_dot, read_dot, to_dot, write_dot
from flowparse.converters.json_graph import SCHEMA_VERSION, from_json, read_json, to_json, write_json
from flowparse.converters.mermaid import from_mermaid, read_mermaid, to_mermaid, write_mermaid

#: Format name -> (to_X, from_X); the CLI and the batch writers look formats up here.
FORMATS = {
    "json": (to_json, from_json),
    "dot": (to_dot, from_dot),
    "mermaid": (to_mermaid, from_mermaid),
}

#: File extensions -> format name.
EXTENSIONS = {".json": "json", ".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".mermaid": "mermaid"}

__all__ = [
    "FORMATS",
    "EXTENSIONS",
    "SCHEMA_VERSION",
    "from_dot",
    "from_json",
    "from_mermaid",
    "read_dot",
    "read_json",
    "read_mermaid",
    "to_dot",
    "to_json",
    "to_mermaid",
    "write_dot",
    "write_json",
    "write_mermaid",
]
