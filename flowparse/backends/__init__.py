"""Detectors that turn an image into a flowchart graph."""

__all__: list[str] = []
