"""Batch conversion of files, folders, PDFs and stdin that never loses work.

>>> from flowparse.pipeline import run_pipeline
>>> summary = run_pipeline(["scans/", "report.pdf"], "out", formats=("json", "mermaid"))  # doctest: +SKIP
>>> summary.ok, summary.failed, summary.exit_code  # doctest: +SKIP
(212, 3, 1)

Each image or PDF page becomes ``OUT/<stem>.json`` (``OUT/<stem>-p3.json`` for page 3 of a PDF;
files found in a folder keep their sub-folder, and with ``keep_folders`` the folder's own name
too) in the formats asked for, and one line of
``OUT/manifest.jsonl`` records how it went. The rules that keep work safe:

- every output is written atomically (temporary file, then rename), and an input's manifest
  line is written only after all its outputs, so a killed run leaves whole files only;
- ``resume=True`` skips an input when the manifest says it succeeded with the formats asked
  for and all its outputs are still there, then rewrites the manifest with one line per input;
- a bad input is a manifest line with its reason, never the end of the run;
- results are written as they come and dropped, so memory stays flat over any number of inputs.

The classical detector runs in ``workers`` processes (each loads its own detector once); a
GPU backend runs in this process, ``batch_size`` images per ``Parser.parse_many`` call.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from flowparse.errors import FlowparseError, InputError

__all__ = [
    "DEFAULT_GLOBS",
    "MANIFEST_NAME",
    "OUTPUT_SUFFIXES",
    "Job",
    "PipelineSetupError",
    "Summary",
    "expand_inputs",
    "read_manifest",
    "run_pipeline",
]

#: Files a folder contributes when no ``globs`` are given: images Pillow reads, and PDFs.
DEFAULT_GLOBS: tuple[str, ...] = (
    "*.png", "*.jpg", "*.jpeg", "*.bmp", "*.gif", "*.tif", "*.tiff", "*.webp", "*.pdf",
)  # fmt: skip

#: Output file suffix per format. Overlays are ``.overlay.png`` so that ``-o`` pointing at the
#: input folder can never overwrite an input ``chart.png``.
OUTPUT_SUFFIXES: dict[str, str] = {
    "json": ".json",
    "mermaid": ".mmd",
    "dot": ".dot",
    "overlay": ".overlay.png",
}

#: The manifest's file name inside the output folder.
MANIFEST_NAME = "manifest.jsonl"

_STDIN = "<stdin>"


class PipelineSetupError(FlowparseError):
    """The run cannot start or go on: the backend or model cannot be loaded, or no usable options."""


@dataclass(frozen=True)
class Job:
    """One unit of work: an image file, one page of a PDF, or what came on stdin.

    ``stem`` is the output path relative to the output folder, without suffix; ``error`` is set
    when the input is known to be bad before parsing (missing file, encrypted PDF, ...).

    >>> Job("report.pdf", 3, "report-p3").key
    ('report.pdf', 3)
    """

    path: str
    page: int | None
    stem: str
    error: str | None = None
    data: bytes | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, int | None]:
        """What identifies the input in the manifest: its path and page."""
        return (self.path, self.page)

    @property
    def is_pdf_page(self) -> bool:
        """Whether the job renders a PDF page (else it loads an image)."""
        return self.page is not None

    @property
    def where(self) -> str:
        """The input as a message names it: ``report.pdf page 3`` or ``chart.png``."""
        return self.path if self.page is None else f"{self.path} page {self.page}"


# --- inputs ----------------------------------------------------------------------------------


def expand_inputs(
    inputs: Iterable[str | os.PathLike],
    *,
    pages: str | None = None,
    globs: Sequence[str] | None = None,
    out_dir: str | os.PathLike | None = None,
    stdin: BinaryIO | None = None,
    keep_folders: bool = False,
) -> list[Job]:
    """The jobs for ``inputs``: files, folders (recursive, filtered by ``globs``), PDFs and ``-``.

    Every page of a PDF is a job (or those ``pages`` asks for, as ``"1,3-5"``); ``-`` reads stdin
    (an image or a PDF). Folders skip hidden entries and ``out_dir``. A job whose input is known to
    be bad carries its ``error``; an input named twice counts once, and two inputs that would
    write the same output get an error on the second. ``keep_folders`` puts a folder's outputs
    under its own name (``a/chart``, ``b/chart`` for folders ``a`` and ``b``), so that folders
    whose files share names can be parsed in one run. A bad ``pages`` raises ``ValueError``.

    >>> [j.stem for j in expand_inputs(["report.pdf"], pages="1,3")]  # doctest: +SKIP
    ['report-p1', 'report-p3']
    """
    from flowparse.documents import parse_page_spec

    ranges = parse_page_spec(pages)
    skip = Path(out_dir).resolve() if out_dir is not None else None
    jobs: list[Job] = []
    seen_keys: set[tuple[str, int | None]] = set()
    stems: dict[str, str] = {}
    for given in inputs:
        for job in _jobs_of_input(os.fspath(given), ranges, tuple(globs or DEFAULT_GLOBS), skip, stdin, keep_folders):
            if job.key in seen_keys:
                continue
            seen_keys.add(job.key)
            owner = stems.setdefault(job.stem.lower(), job.where)
            if owner != job.where and job.error is None:
                job = Job(job.path, job.page, job.stem, f"its output name {job.stem!r} is already used by {owner}")
            jobs.append(job)
    return jobs


def _jobs_of_input(
    given: str, ranges, globs, skip: Path | None, stdin: BinaryIO | None, keep_folders: bool
) -> Iterator[Job]:
    if given == "-":
        data = (stdin or sys.stdin.buffer).read()
        yield from _jobs_of_file(_STDIN, "stdin", ranges, data=data)
    elif Path(given).is_dir():
        prefix = f"{Path(given).resolve().name or 'root'}/" if keep_folders else ""
        for path, rel in _walk_folder(Path(given), globs, skip):
            yield from _jobs_of_file(str(path), prefix + rel, ranges)
    else:
        yield from _jobs_of_file(given, Path(given).stem, ranges)


def _walk_folder(folder: Path, globs: Sequence[str], skip: Path | None) -> Iterator[tuple[Path, str]]:
    """(file, output stem) for each file under ``folder`` matching ``globs``, in sorted order."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _is_under(Path(root, d), skip))
        for name in sorted(files):
            rel = Path(root, name).relative_to(folder).as_posix()
            if not name.startswith(".") and _matches(rel, name, globs):
                yield Path(root, name), rel.rsplit(".", 1)[0] if "." in name else rel


def _is_under(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    resolved = path.resolve()
    return resolved == folder or folder in resolved.parents


def _matches(rel: str, name: str, globs: Sequence[str]) -> bool:
    """Case-insensitive: ``*.png`` takes ``CHART.PNG``; a pattern with ``/`` matches the path."""
    for pattern in globs:
        target = rel if "/" in pattern else name
        if fnmatch.fnmatch(target.lower(), pattern.lower()):
            return True
    return False


def _jobs_of_file(path: str, stem: str, ranges, *, data: bytes | None = None) -> Iterator[Job]:
    from flowparse.documents import PdfError, is_pdf, pdf_page_count, select_pages

    if not is_pdf(data if data is not None else path):
        yield Job(path, None, stem, data=data)
        return
    try:
        count = pdf_page_count(data if data is not None else path, name=path)
    except PdfError as e:
        yield Job(path, None, stem, error=e.problem)
        return
    wanted, missing = select_pages(ranges, count)
    for page in wanted:
        yield Job(path, page, f"{stem}-p{page}", data=data)
    for page in missing:
        yield Job(path, page, f"{stem}-p{page}", error=f"page {page}: the PDF has {count} pages")


# --- one process's work ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    """What every process needs to turn jobs into files (picklable, so workers get a copy)."""

    out_dir: Path
    formats: tuple[str, ...]
    backend: str = "auto"
    model: str | None = None
    options: dict = field(default_factory=dict)
    dpi: float = 200
    figures: bool = False
    batch_size: int = 1


class _OpenPdfs:
    """Keeps the last PDF open: the pages of one file usually come one after another."""

    def __init__(self) -> None:
        self._key: object = None
        self._doc = None

    def render(self, job: Job, dpi: float):
        from flowparse.documents import _open_pdf, render_pdf_page

        source = job.data if job.data is not None else job.path
        if self._key != job.path:
            self.close()
            self._doc, self._key = _open_pdf(source, job.path), job.path
        return render_pdf_page(source, job.page, dpi=dpi, name=job.path, document=self._doc)

    def close(self) -> None:
        if self._doc is not None:
            self._doc.close()
        self._doc = self._key = None


def _load_parser(settings: _Settings):
    from flowparse.api import load

    try:
        return load(settings.backend, settings.model, **settings.options)
    except FlowparseError as e:
        raise PipelineSetupError(f"cannot load the {settings.backend!r} backend: {e}") from None


def _load_input(job: Job, settings: _Settings, pdfs: _OpenPdfs):
    if job.error is not None:
        raise InputError(job.error, source=job.path)
    if job.is_pdf_page:
        return pdfs.render(job, settings.dpi)
    from flowparse.images import load_image

    return load_image(job.data if job.data is not None else job.path, source=job.path)[0]


def _process_batch(jobs: Sequence[Job], settings: _Settings, parser, pdfs: _OpenPdfs) -> list[dict]:
    """Load, parse and write each job of the batch; one manifest record per job, in order.

    A record's ``seconds`` is that input's own time: its loading, its share of the parse, its writing.
    """
    records: dict[tuple, dict] = {}
    loaded, load_seconds = [], []
    for job in jobs:
        started = time.perf_counter()
        try:
            loaded.append((job, _load_input(job, settings, pdfs)))
            load_seconds.append(time.perf_counter() - started)
        except Exception as e:  # noqa: BLE001 - any failure of one input is that input's record
            records[job.key] = _failure(job, e, started, settings)
    results = _parse_loaded(loaded, settings, parser)
    for (job, image), (result, parse_seconds), load_s in zip(loaded, results, load_seconds):
        started = time.perf_counter() - load_s - parse_seconds  # as if it had run alone
        try:
            if isinstance(result, BaseException):
                raise result
            records[job.key] = _write_job(job, image, result, started, settings)
        except Exception as e:  # noqa: BLE001
            records[job.key] = _failure(job, e, started, settings)
    return [records[job.key] for job in jobs]


def _parse_loaded(loaded: list, settings: _Settings, parser) -> list[tuple]:
    """(graph, seconds) per loaded job (a list of graphs in figures mode; an exception if it failed)."""
    from flowparse.documents import parse_figures

    if settings.batch_size > 1 and not settings.figures and len(loaded) > 1:
        started = time.perf_counter()
        try:
            sources = [job.path for job, _ in loaded]
            graphs = parser.parse_many([im for _, im in loaded], batch_size=settings.batch_size, sources=sources)
            share = (time.perf_counter() - started) / len(loaded)
            return [(G, share) for G in graphs]
        except Exception:  # noqa: BLE001 - one bad image fails a batch: redo it one by one to find it
            pass
    results: list[tuple] = []
    for job, image in loaded:
        started = time.perf_counter()
        try:
            graph = parse_figures(image, parser) if settings.figures else parser.parse(image, source=job.path)
        except Exception as e:  # noqa: BLE001
            graph = e
        results.append((graph, time.perf_counter() - started))
    return results


def _write_job(job: Job, image, result, started: float, settings: _Settings) -> dict:
    """Write the job's outputs; return its manifest record (written after them, by the caller)."""
    graphs = result if settings.figures else [result]
    outputs: list[str] = []
    figures = []
    for k, G in enumerate(graphs, start=1):
        G.graph["source"] = job.path
        if job.page is not None or settings.figures:
            G.graph["page"] = job.page or 1
        stem = f"{job.stem}-f{k}" if settings.figures else job.stem
        outputs += _write_outputs(G, image, stem, settings)
        figures.append(
            {"region": list(G.graph.get("region", ())), "nodes": G.number_of_nodes(), "edges": G.number_of_edges()}
        )
    record = _record(job, "ok", None, started, settings)
    record.update(
        nodes=sum(f["nodes"] for f in figures),
        edges=sum(f["edges"] for f in figures),
        outputs=outputs,
    )
    if settings.figures:
        record["figures"] = figures
    return record


def _write_outputs(G, image, stem: str, settings: _Settings) -> list[str]:
    from flowparse.converters import FORMATS
    from flowparse.files import write_bytes_atomic, write_text_atomic

    written = []
    for fmt in settings.formats:
        rel = stem + OUTPUT_SUFFIXES[fmt]
        if fmt == "overlay":
            from flowparse.overlay import draw_graph

            buffer = io.BytesIO()
            draw_graph(image, G).save(buffer, format="PNG")
            write_bytes_atomic(settings.out_dir / rel, buffer.getvalue())
        else:
            write_text_atomic(settings.out_dir / rel, FORMATS[fmt][0](G))
        written.append(rel)
    return written


def _record(job: Job, status: str, error: str | None, started: float, settings: _Settings) -> dict:
    return {
        "path": job.path,
        "page": job.page,
        "status": status,
        "error": error,
        "nodes": None,
        "edges": None,
        "seconds": round(time.perf_counter() - started, 4),
        "formats": list(settings.formats),
        "outputs": [],
    }


def _failure(job: Job, error: BaseException, started: float, settings: _Settings) -> dict:
    if isinstance(error, FlowparseError):
        reason = error.problem
    else:  # a bug or a crash inside a detector: still only this input's failure
        reason = f"internal error: {type(error).__name__}: {error}"
    return _record(job, "error", reason, started, settings)


# --- running the jobs: here, or in worker processes ------------------------------------------

_WORKER: dict[str, Any] = {}


def _start_worker(settings: _Settings) -> None:
    import signal

    # Ctrl-C reaches the whole process group: the main process stops the run, workers finish.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    _WORKER["pdfs"] = _OpenPdfs()
    try:
        _WORKER["parser"] = _load_parser(settings)
    except Exception as e:  # noqa: BLE001 - reported by the main process, which stops the run
        _WORKER["setup_error"] = e


def _exit_with_parent() -> None:
    """A worker whose run was killed (SIGKILL leaves it orphaned, waiting for work) exits too."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="flowparse-parent-watch", daemon=True).start()


def _work_in_worker(jobs: list[Job], settings: _Settings) -> list[dict]:
    if "setup_error" in _WORKER:
        raise _WORKER["setup_error"]
    return _process_batch(jobs, settings, _WORKER["parser"], _WORKER["pdfs"])


def _run_here(batches: Iterator[list[Job]], settings: _Settings) -> Iterator[list[dict]]:
    parser = _load_parser(settings)
    pdfs = _OpenPdfs()
    try:
        for batch in batches:
            yield _process_batch(batch, settings, parser, pdfs)
    finally:
        pdfs.close()


def _run_in_workers(batches: Iterator[list[Job]], settings: _Settings, workers: int) -> Iterator[list[dict]]:
    """Results as workers finish them; at most two batches per worker in flight (flat memory)."""
    from concurrent.futures import FIRST_COMPLETED, wait

    pool = _WorkerPool(settings, workers)
    pending: dict = {}
    try:
        for batch in batches:
            pending[pool.submit(batch)] = batch
            while len(pending) >= 2 * workers:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                yield from (pool.outcome(f, pending.pop(f)) for f in done)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            yield from (pool.outcome(f, pending.pop(f)) for f in done)
    finally:
        pool.close()


class _WorkerPool:
    """A process pool that is started again when a worker dies (a crash costs only its batch)."""

    def __init__(self, settings: _Settings, workers: int) -> None:
        self.settings, self.workers = settings, workers
        self._executor = None

    def submit(self, batch: list[Job]):
        if self._executor is None:
            self._executor = self._start()
        return self._executor.submit(_work_in_worker, batch, self.settings)

    def outcome(self, future, batch: list[Job]) -> list[dict]:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return future.result()
        except BrokenProcessPool:
            self._discard()
            now = time.perf_counter()
            died = InputError("a worker process died while parsing it (crash or out of memory)")
            return [_failure(job, died, now, self.settings) for job in batch]
        except PipelineSetupError:
            raise
        except Exception as e:  # noqa: BLE001 - the batch could not even be sent or returned
            now = time.perf_counter()
            return [_failure(job, e, now, self.settings) for job in batch]

    def _start(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # fork where there is one: workers inherit backends registered at run time, and start fast
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context(method),
            initializer=_start_worker,
            initargs=(self.settings,),
        )

    def _discard(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


# --- the manifest ----------------------------------------------------------------------------


def read_manifest(path: str | os.PathLike) -> Iterator[dict]:
    """The records of a manifest, skipping a line cut short by a killed run.

    >>> failed = [r for r in read_manifest("out/manifest.jsonl") if r["status"] != "ok"]  # doctest: +SKIP
    """
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and "path" in record:
                    yield record
    except FileNotFoundError:
        return


class _Manifest:
    """The JSONL manifest: a line per finished input, flushed as it is written."""

    def __init__(self, path: Path, resume: bool) -> None:
        self.path = path
        self.done: dict[tuple, dict] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume and path.exists():
            for record in read_manifest(path):
                if record.get("status") == "ok":
                    self.done[(record["path"], record.get("page"))] = _resume_facts(record)
                else:
                    self.done.pop((record["path"], record.get("page")), None)
            _cut_partial_line(path)
        self._file: TextIO = open(path, "a" if resume else "w", encoding="utf-8")

    def is_complete(self, job: Job, settings: _Settings) -> bool:
        """Whether a previous run finished ``job`` with these formats and its outputs are all there."""
        facts = self.done.get(job.key)
        return (
            facts is not None
            and facts["figures"] == settings.figures
            and set(settings.formats) <= facts["formats"]
            and all((settings.out_dir / rel).is_file() for rel in facts["outputs"])
        )

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def compact(self) -> None:
        """Rewrite the manifest with the last line of each input (after a resumed run)."""
        from flowparse.files import write_text_atomic

        latest: dict[tuple, str] = {}
        for record in read_manifest(self.path):
            key = (record["path"], record.get("page"))
            latest.pop(key, None)  # keep inputs in the order they last finished
            latest[key] = json.dumps(record, ensure_ascii=False)
        write_text_atomic(self.path, "".join(line + "\n" for line in latest.values()))


def _resume_facts(record: dict) -> dict:
    """The little a resumed run needs to know about a finished input (kept for every input)."""
    return {
        "formats": frozenset(record.get("formats") or ()),
        "outputs": tuple(record.get("outputs") or ()),
        "figures": "figures" in record,
    }


def _cut_partial_line(path: Path) -> None:
    """Drop a last line a killed run left half-written, so the next record starts on its own line."""
    with open(path, "rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)


def _remove_stale_temporaries(out_dir: Path) -> int:
    """Delete temporary files a killed run left (``.name.XXXX.tmp`` from the atomic writers)."""
    removed = 0
    if not out_dir.is_dir():
        return 0
    for root, _, files in os.walk(out_dir):
        for name in files:
            if name.startswith(".") and name.endswith(".tmp"):
                Path(root, name).unlink(missing_ok=True)
                removed += 1
    return removed


# --- progress --------------------------------------------------------------------------------


class _Progress:
    """Counts and rate on stderr: a bar on a terminal (tqdm), a plain line a second otherwise."""

    def __init__(self, total: int, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.total, self.enabled = total, enabled
        self.stream = stream or sys.stderr
        self.done = self.failed = 0
        self._start = self._last = time.perf_counter()
        self._bar = self._make_bar() if enabled else None

    def _make_bar(self):
        if not getattr(self.stream, "isatty", lambda: False)():
            return None
        try:
            from tqdm import tqdm
        except ImportError:
            return None
        tqdm.monitor_interval = 0  # no monitor thread: worker processes are forked later
        return tqdm(total=self.total, file=self.stream, unit="input", dynamic_ncols=True)

    def update(self, record: dict) -> None:
        self.done += 1
        if record["status"] != "ok":
            self.failed += 1
            page = record["page"]
            named = page is None or str(record["error"]).startswith(f"page {page}")
            where = record["path"] if named else f"{record['path']} page {page}"
            self._print(f"error: {where}: {record['error']}")
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(failed=self.failed, refresh=False)
        elif self.enabled and (time.perf_counter() - self._last >= 1.0 or self.done == self.total):
            self._last = time.perf_counter()
            self._print(self.line())

    def line(self) -> str:
        """``37/200 done, 2 failed, 3.1/s``."""
        rate = self.done / max(time.perf_counter() - self._start, 1e-9)
        return f"{self.done}/{self.total} done, {self.failed} failed, {rate:.1f}/s"

    def note(self, text: str) -> None:
        """A line of information (not shown when progress is off)."""
        if self.enabled:
            self._print(text)

    def _print(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Summary:
    """How a run went. ``exit_code`` is the CLI's: 0 all succeeded, 1 some failed.

    >>> Summary(total=3, ok=2, failed=1, skipped=0, seconds=1.5, manifest=Path("m.jsonl")).exit_code
    1
    """

    total: int
    ok: int
    failed: int
    skipped: int
    seconds: float
    manifest: Path

    @property
    def exit_code(self) -> int:
        """0 when every input succeeded (or was already done), 1 when any failed."""
        return 1 if self.failed else 0


def run_pipeline(
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    formats: Sequence[str] = ("json",),
    backend: str = "auto",
    model: str | None = None,
    options: dict | None = None,
    pages: str | None = None,
    dpi: float | None = None,
    workers: int = 1,
    batch_size: int = 1,
    resume: bool = False,
    figures: bool = False,
    globs: Sequence[str] | None = None,
    manifest: str | os.PathLike | None = None,
    progress: bool = True,
    stdin: BinaryIO | None = None,
    keep_folders: bool = False,
) -> Summary:
    """Parse every input into ``out_dir`` in ``formats``; see the module docs for the guarantees.

    ``formats`` are names of ``flowparse.converters.FORMATS`` plus ``"overlay"``. ``workers`` > 1
    runs that many processes (for the CPU detector); ``batch_size`` > 1 hands a backend that
    many images per call (for a GPU model). ``figures`` parses the flowcharts found on each page
    instead of the whole page (outputs ``<stem>-f1.json``, ...). ``keep_folders`` writes a
    folder's outputs under its name (see :func:`expand_inputs`). Raises ``ValueError`` for bad
    arguments and :class:`PipelineSetupError` when the backend cannot be loaded.

    >>> run_pipeline(["charts/"], "out", formats=["json", "overlay"], workers=2).exit_code  # doctest: +SKIP
    0
    """
    from flowparse.documents import DEFAULT_DPI

    out = Path(out_dir)
    settings = _Settings(
        out_dir=out,
        formats=_check_formats(formats),
        backend=backend,
        model=None if model is None else os.fspath(model),
        options=dict(options or {}),
        dpi=float(dpi or DEFAULT_DPI),
        figures=figures,
        batch_size=_at_least_one(batch_size, "batch_size"),
    )
    _at_least_one(workers, "workers")
    jobs = expand_inputs(inputs, pages=pages, globs=globs, out_dir=out, stdin=stdin, keep_folders=keep_folders)
    if not jobs:
        raise ValueError("no inputs: the folders hold no files matching " + ", ".join(globs or DEFAULT_GLOBS))
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out)
    log = _Manifest(Path(manifest) if manifest else out / MANIFEST_NAME, resume)
    try:
        return _run_jobs(jobs, settings, log, workers=workers, progress=progress, resume=resume)
    finally:
        log.close()


def _run_jobs(
    jobs: list[Job], settings: _Settings, log: _Manifest, *, workers: int, progress: bool, resume: bool
) -> Summary:
    started = time.perf_counter()
    todo = [job for job in jobs if not (resume and log.is_complete(job, settings))]
    skipped = len(jobs) - len(todo)
    log.done.clear()  # no longer needed: free it before the long part
    bar = _Progress(len(todo), enabled=progress)
    if skipped:
        bar.note(f"resume: {skipped} of {len(jobs)} inputs already done")
    ok = 0
    try:
        for records in _run_batches(todo, settings, workers):
            for record in records:
                log.write(record)
                bar.update(record)
                ok += record["status"] == "ok"
    finally:
        bar.close()
    if resume:
        log.compact()
    return Summary(len(jobs), ok, len(todo) - ok, skipped, time.perf_counter() - started, log.path)


def _run_batches(todo: list[Job], settings: _Settings, workers: int) -> Iterator[list[dict]]:
    """Known-bad inputs are recorded at once; the rest go to the parser in batches."""
    now = time.perf_counter()
    bad = [job for job in todo if job.error is not None]
    for job in bad:
        yield [_failure(job, InputError(job.error), now, settings)]
    good = [job for job in todo if job.error is None]
    if not good:
        return
    batches = (good[i : i + settings.batch_size] for i in range(0, len(good), settings.batch_size))
    if workers > 1 and len(good) > 1:
        yield from _run_in_workers(batches, settings, min(workers, len(good)))
    else:
        yield from _run_here(batches, settings)


def _check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    from flowparse.converters import FORMATS

    chosen = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    known = [name for name in OUTPUT_SUFFIXES if name in FORMATS or name == "overlay"]
    unknown = [f for f in chosen if f not in known]
    if unknown or not chosen:
        raise ValueError(f"unknown output format {', '.join(unknown) or '(none)'}: choose from {', '.join(known)}")
    return chosen


def _at_least_one(value: int, name: str) -> int:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
    return value
