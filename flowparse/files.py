"""Reading and writing files the way a batch pipeline needs: clear errors, atomic writes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from flowparse.errors import FormatError, InputError

__all__ = ["read_bytes", "read_text", "write_text_atomic", "write_bytes_atomic"]


def read_bytes(path: str | os.PathLike, *, source: str | None = None) -> bytes:
    """The bytes of ``path``, or an :class:`InputError` naming ``source`` (default: the path).

    >>> read_bytes("no/such/chart.png")
    Traceback (most recent call last):
    ...
    flowparse.errors.InputError: no/such/chart.png: cannot read: no such file
    """
    name = os.fspath(path) if source is None else source
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError("cannot read: no such file", source=name) from None
    except IsADirectoryError:
        raise InputError("cannot read: is a folder", source=name) from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", source=name) from None


def read_text(path: str | os.PathLike) -> str:
    """The UTF-8 text of ``path``, or an :class:`InputError` / :class:`FormatError` naming it.

    >>> read_text("no/such/file.json")
    Traceback (most recent call last):
    ...
    flowparse.errors.InputError: no/such/file.json: cannot read: no such file
    """
    data = read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FormatError(f"not UTF-8 text (byte {e.start})", source=path) from None


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    A reader (or a resumed run) sees either the old file or the whole new one, never half.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))
