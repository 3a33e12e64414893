"""Reading text lines with RapidOCR's recogniser, offline, on the model files inside its wheel.

Only the recogniser runs: the detector already knows where text is (inside shapes, beside
connectors), so RapidOCR's text detector, its slowest stage, is never needed. The recogniser's
ONNX file runs in onnxruntime, loaded from the wheel by name: nothing is looked for or downloaded.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from flowparse.errors import FlowparseError

__all__ = ["OCRError", "TextReader", "bundled_model_files", "get_reader"]

#: The ONNX files shipped in the rapidocr wheel: detector (unused), classifier (unused), recogniser.
_MODEL_FILES = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
}

_READERS: dict[int, TextReader] = {}
_LOCK = threading.Lock()


class OCRError(FlowparseError, RuntimeError):
    """The OCR engine is missing or its bundled model files are not where the wheel puts them."""


def bundled_model_files() -> dict[str, Path]:
    """The model files inside the installed rapidocr wheel, by stage (raises if one is missing).

    >>> sorted(bundled_model_files())
    ['Cls', 'Det', 'Rec']
    """
    try:
        import rapidocr
    except ImportError as e:
        raise OCRError(f"rapidocr is not installed ({e}); pip install 'flowparse[classical]'") from None
    root = Path(rapidocr.__file__).parent / "models"
    files = {stage: root / name for stage, name in _MODEL_FILES.items()}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise OCRError(f"rapidocr's bundled models are missing: {', '.join(missing)} (reinstall rapidocr>=3.4)")
    return files


class TextReader:
    """RapidOCR's recogniser (PP-OCR, Chinese and English) on crops of single text lines.

    The ONNX model runs in onnxruntime directly: RapidOCR's pipeline is only a loop around it
    (resize to the model's height, pad, batch, greedy CTC decode), kept here as PaddleOCR has it,
    so the reader loads one model, not RapidOCR's engine (0.61 -> 0.14 s).

    >>> reader = get_reader(threads=1)                       # doctest: +SKIP
    >>> reader.read([line_crop])                             # doctest: +SKIP
    [('Start', 0.999)]
    """

    def __init__(self, threads: int = 1):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        path = bundled_model_files()["Rec"]
        try:
            self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            letters = self._session.get_modelmeta().custom_metadata_map["character"].splitlines()
        except Exception as e:  # a corrupt or foreign file: say which
            raise OCRError(f"cannot load the text recogniser {path}: {e}") from None
        # CTC's blank is class 0; PaddleOCR appends the space after the dictionary.
        self._alphabet = np.array(["", *letters, " "])
        self._input = self._session.get_inputs()[0].name

    def read(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """Text and confidence of each RGB line crop, in order (``("", 0.0)`` for an empty crop)."""
        read: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for batch, width in _batches(crops):
            pixels = np.stack([_model_input(crops[k], width) for k in batch])
            probs = self._session.run(None, {self._input: pixels})[0]
            for k, p in zip(batch, probs):
                read[k] = self._decode(p)
        return read

    def _decode(self, probs: np.ndarray) -> tuple[str, float]:
        """Greedy CTC: the likeliest class per column, repeats merged, blanks dropped."""
        best = probs.argmax(axis=1)
        kept = best != 0
        kept[1:] &= best[1:] != best[:-1]
        if not kept.any():
            return "", 0.0
        text = "".join(self._alphabet[best[kept]]).strip()
        return text, float(probs.max(axis=1)[kept].mean())


#: The recogniser's input height, and the most lines it reads in one run.
_HEIGHT, _BATCH = 48, 6
#: PaddleOCR pads every line to at least 320 px (6.7 heights), as its recogniser was trained.
#: Read at its own length, a short line is read worse: a lone 'Y' turns into a stray letter, and
#: small text gets spaces inside its words ('I nvoi ce'; held-out Graphviz text 0.969 -> 0.964).
_PADDED = 320 / 48


def _batches(crops: list[np.ndarray]):
    """Crops in runs of lines of similar width (sorted), each run with its input width."""
    widths = [_input_width(c) for c in crops]
    order = [k for k in np.argsort(widths, kind="stable") if widths[k]]
    for i in range(0, len(order), _BATCH):
        batch = order[i : i + _BATCH]
        yield batch, max(widths[k] for k in batch)


def _input_width(crop: np.ndarray) -> int:
    """The width the recogniser reads a line crop at (0 for an empty crop)."""
    if not crop.size:
        return 0
    return int(_HEIGHT * max(_PADDED, crop.shape[1] / crop.shape[0]))


def _model_input(crop: np.ndarray, width: int) -> np.ndarray:
    """An RGB crop as the model takes it: BGR, 48 px high, in [-1, 1], padded right with 0."""
    h, w = crop.shape[:2]
    fitted = min(width, int(np.ceil(_HEIGHT * w / h)))
    line = cv2.resize(np.ascontiguousarray(crop[:, :, ::-1]), (fitted, _HEIGHT)).astype(np.float32)
    out = np.zeros((3, _HEIGHT, width), np.float32)
    out[:, :, :fitted] = line.transpose(2, 0, 1) / 127.5 - 1.0
    return out


def get_reader(threads: int = 1) -> TextReader:
    """The process-wide reader for ``threads`` ONNX threads (built once; thread-safe build)."""
    with _LOCK:
        if threads not in _READERS:
            _READERS[threads] = TextReader(threads)
        return _READERS[threads]
