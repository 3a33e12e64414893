"""DOT (Graphviz). Being written: see issue 2."""
