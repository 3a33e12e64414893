"""``parse()`` and ``load()``: flowchart images to graphs through a pluggable backend.

>>> from flowparse import parse          # doctest: +SKIP
>>> G = parse("chart.png")               # doctest: +SKIP

Light at import: the backend (OpenCV and OCR, or torch) is imported when a parser is built.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import networkx as nx

from flowparse.errors import FlowparseError

__all__ = ["MODEL_ENV", "Parser", "parse", "load", "resolve_backend"]

#: Environment variable naming the default InternVL checkpoint; when set, ``"auto"`` picks InternVL.
MODEL_ENV = "FLOWPARSE_MODEL"

#: Options the image loader takes; every other option goes to the backend.
_IMAGE_OPTIONS = ("max_pixels",)


def resolve_backend(backend: str = "auto", model: str | os.PathLike | None = None) -> tuple[str, Any]:
    """The backend name and model that ``backend="auto"`` (or an explicit name) means here.

    ``"auto"`` is ``"internvl"`` when ``model`` is given or ``FLOWPARSE_MODEL`` is set, else
    ``"classical"``.

    >>> resolve_backend("classical")
    ('classical', None)
    """
    name = str(backend).strip().lower()
    env_model = os.environ.get(MODEL_ENV) or None
    if name == "auto":
        name = "internvl" if (model is not None or env_model) else "classical"
    if model is None and name == "internvl":
        model = env_model
    return name, model


class Parser:
    """A loaded backend that parses many images (models load once, in ``load()``).

    >>> parser = load("classical")            # doctest: +SKIP
    >>> graphs = parser.parse_many(["a.png", "b.png"], batch_size=4)  # doctest: +SKIP
    """

    def __init__(self, name: str, engine: Any, *, max_pixels: int | None | str = "default"):
        self.backend = name
        self.engine = engine
        self._image_options = {} if max_pixels == "default" else {"max_pixels": max_pixels}

    def __repr__(self) -> str:
        return f"Parser(backend={self.backend!r})"

    def parse(self, image: Any, *, source: str | None = None) -> nx.DiGraph:
        """The flowchart graph of one image (path, bytes, file object, PIL image or numpy array).

        >>> G = load().parse("chart.png")      # doctest: +SKIP
        """
        from flowparse.images import load_image

        pil, name = load_image(image, source=source, **self._image_options)
        return self._finish(self.engine.parse(pil, source=name), name, pil.size)

    def parse_many(
        self, images: Iterable[Any], *, batch_size: int = 8, sources: Sequence[str] | None = None
    ) -> list[nx.DiGraph]:
        """The graphs of ``images``, in order, ``batch_size`` at a time (one failure raises).

        A batch pipeline that must survive bad inputs calls :meth:`parse` per image instead.

        >>> graphs = load().parse_many(["a.png", "b.png"], batch_size=2)  # doctest: +SKIP
        """
        from flowparse.images import load_image

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        images = list(images)
        names = list(sources) if sources is not None else [None] * len(images)
        if len(names) != len(images):
            raise ValueError(f"{len(names)} sources for {len(images)} images")
        graphs: list[nx.DiGraph] = []
        for start in range(0, len(images), batch_size):
            loaded = [
                load_image(img, source=n, **self._image_options)
                for img, n in zip(images[start : start + batch_size], names[start : start + batch_size])
            ]
            pils, batch_names = [p for p, _ in loaded], [n for _, n in loaded]
            results = self.engine.parse_many(pils, batch_size=batch_size, sources=batch_names)
            graphs += [self._finish(G, n, p.size) for G, n, p in zip(results, batch_names, pils)]
        return graphs

    def _finish(self, G: nx.DiGraph, name: str, size: tuple[int, int]) -> nx.DiGraph:
        """Every graph names its image and backend, whatever the backend filled in."""
        G.graph.setdefault("width", size[0])
        G.graph.setdefault("height", size[1])
        G.graph["source"] = G.graph.get("source") or name
        G.graph["backend"] = G.graph.get("backend") or self.backend
        return G


def load(backend: str = "auto", model: str | os.PathLike | None = None, **options: Any) -> Parser:
    """Build a reusable :class:`Parser`: the backend and its model load once, here.

    ``options`` go to the backend, except ``max_pixels`` (the image size limit, ``None`` for none).

    >>> parser = load("classical")              # doctest: +SKIP
    >>> parser.parse("chart.png").number_of_nodes()  # doctest: +SKIP
    6
    """
    from flowparse.backends import get_backend

    name, model = resolve_backend(backend, model)
    factory = get_backend(name)
    image_options = {k: options.pop(k) for k in _IMAGE_OPTIONS if k in options}
    try:
        engine = factory(model=model, **options)
    except TypeError as e:
        raise FlowparseError(f"backend {name!r} does not take these options ({e})") from None
    return Parser(name, engine, **image_options)


def parse(image: Any, *, backend: str = "auto", model: str | os.PathLike | None = None, **options: Any) -> nx.DiGraph:
    """The flowchart in ``image`` as a :class:`networkx.DiGraph` (see ``docs/graph.md``).

    ``image`` is a path, :class:`pathlib.Path`, bytes, a binary file object, a PIL image or a
    numpy array. ``backend="auto"`` uses InternVL when ``model`` is given or ``FLOWPARSE_MODEL``
    is set, and the classical CPU detector otherwise. Parsing many images? Use :func:`load` once.

    >>> G = parse("chart.png")                  # doctest: +SKIP
    >>> G.nodes["n0"]["shape"], G.nodes["n0"]["text"]  # doctest: +SKIP
    ('stadium', 'Start')
    """
    return load(backend, model, **options).parse(image)
