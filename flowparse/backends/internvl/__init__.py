"""The InternVL2 detector: native transformers InternVL, grounded answers, batched parsing.

Importing this package stays light; torch and transformers are imported when a model is
loaded. ``InternVLBackend`` is what the registry's ``"internvl"`` name points to.
"""

from __future__ import annotations

__all__ = ["InternVLBackend", "load_internvl", "build_tiny_internvl", "import_checkpoint"]


def __getattr__(name: str):
    # Lazy so that `import flowparse.backends.internvl` does not import torch.
    if name == "InternVLBackend":
        from flowparse.backends.internvl.backend import InternVLBackend

        return InternVLBackend
    if name == "load_internvl":
        from flowparse.backends.internvl.loading import load_internvl

        return load_internvl
    if name == "build_tiny_internvl":
        from flowparse.backends.internvl.tiny import build_tiny_internvl

        return build_tiny_internvl
    if name == "import_checkpoint":
        from flowparse.backends.internvl.convert import import_checkpoint

        return import_checkpoint
    raise AttributeError(name)
