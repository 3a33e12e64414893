"""Reading text lines with RapidOCR's recogniser, offline, on the model files inside its wheel.

Only the recogniser runs: the detector already knows where text is (inside shapes, beside
connectors), so RapidOCR's text detector, its slowest stage, is never needed. The model files
are named explicitly, so RapidOCR never looks for (or downloads) anything.
"""

from __future__ import annotations

import threading
from pathlib import Path

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
    """RapidOCR's recogniser (Chinese and English) on crops of single text lines.

    >>> reader = get_reader(threads=1)                       # doctest: +SKIP
    >>> reader.read([line_crop])                             # doctest: +SKIP
    [('Start', 0.999)]
    """

    def __init__(self, threads: int = 1):
        from rapidocr import RapidOCR

        files = bundled_model_files()
        params = {
            "Global.log_level": "critical",
            "Global.use_det": False,
            "Global.use_cls": False,
            "Global.model_root_dir": str(files["Rec"].parent),
            "EngineConfig.onnxruntime.intra_op_num_threads": int(threads),
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        params.update({f"{stage}.model_path": str(path) for stage, path in files.items()})
        self._engine = RapidOCR(params=params)
        # The recogniser loads on first use: load it now, so a parser pays once, at load().
        self._engine(np.full((32, 96, 3), 255, np.uint8), use_det=False, use_cls=False, use_rec=True)
        self._rec = self._engine.text_rec
        from rapidocr.ch_ppocr_rec import TextRecInput

        self._input = TextRecInput

    def read(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """Text and confidence of each RGB line crop, in order (``("", 0.0)`` for an empty crop)."""
        if not crops:
            return []
        # RapidOCR, like PaddleOCR, takes BGR arrays.
        batch = [np.ascontiguousarray(c[:, :, ::-1]) for c in crops]
        out = self._rec(self._input(img=batch))
        return [(str(t).strip(), float(s)) for t, s in zip(out.txts, out.scores)]


def get_reader(threads: int = 1) -> TextReader:
    """The process-wide reader for ``threads`` ONNX threads (built once; thread-safe build)."""
    with _LOCK:
        if threads not in _READERS:
            _READERS[threads] = TextReader(threads)
        return _READERS[threads]
