"""The classical CPU detector: OpenCV for shapes and arrows, RapidOCR (offline) for text.

>>> from flowparse.backends.classical import ClassicalBackend   # doctest: +SKIP
>>> G = ClassicalBackend().parse(pil_image, source="chart.png")  # doctest: +SKIP

Importing this package imports OpenCV; the OCR models load when a backend is built.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np

from flowparse.backends.classical.detector import MIN_SCORE, attach_arrows, detect

__all__ = ["ClassicalBackend", "attach_arrows", "detect"]


class ClassicalBackend:
    """The ``"classical"`` backend: no model weights, one CPU core, Chinese and English text.

    Options: ``threads`` (OpenCV and ONNX Runtime threads, default 1), ``labels`` (read edge
    labels, default True), ``min_score`` (leave out shapes scoring below it, default 0.15).
    ``model`` must be None: this backend has no weights to load.

    >>> backend = ClassicalBackend(threads=1)              # doctest: +SKIP
    >>> backend.parse(image).graph["backend"]              # doctest: +SKIP
    'classical'
    """

    def __init__(self, model=None, *, threads: int = 1, labels: bool = True, min_score: float | None = None):
        from flowparse.errors import FlowparseError

        if model is not None:
            raise FlowparseError(f"the classical backend takes no model (got {model!r}); use backend='internvl'")
        import cv2

        from flowparse.backends.classical.ocr import get_reader

        cv2.setNumThreads(int(threads))
        self.threads = int(threads)
        self.labels = bool(labels)
        self.min_score = MIN_SCORE if min_score is None else float(min_score)
        self.reader = get_reader(self.threads)

    def parse(self, image, *, source: str = "") -> nx.DiGraph:
        """The graph of one RGB PIL image."""
        return detect(
            np.asarray(image.convert("RGB")),
            source=source,
            reader=self.reader,
            labels=self.labels,
            min_score=self.min_score,
        )

    def parse_many(
        self, images: Sequence, *, batch_size: int = 8, sources: Sequence[str] | None = None
    ) -> list[nx.DiGraph]:
        """The graphs of several images, one after another (the detector has no batch speed-up)."""
        names = list(sources) if sources is not None else [""] * len(images)
        return [self.parse(image, source=name) for image, name in zip(images, names)]
