"""Many images at once: folders, resume, worker processes, a shared palette, Dask.

The unit of work is one file: :func:`process_file` calls
:func:`kmeans_compress.compress_file` (the rules every front end shares) with
``resume`` on, and returns one small report row. It depends on nothing but the
file, the options and the seed, so the bytes written are the same whether files
are done one after the other, in worker processes or on a Dask cluster, in any
order.

Resuming: a file whose output holds the stamp of the same input bytes and the
same options is *up to date* and skipped; an output with the stamp of other
options or of an older input is redone and replaced; an output without a stamp
is someone else's file and is left alone (the input is reported as failed)
unless ``force``.
"""

from __future__ import annotations

import csv
import io as _io
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from ._encode import OUTPUT_FORMATS, writable_folder, write_atomic
from ._exceptions import BatchUsageError, NoInputError, OutputExistsError, caught_warnings, message_of
from ._files import FileOptions, OutputClaims, compress_file, read_stamp, refuse_input
from ._palette import palette_from_histogram
from ._parallel import WorkerDied, close_dask, dask_client, default_jobs, execute
from ._report import psnr
from ._shared import image_histogram, shared_histogram, shared_palette

__all__ = [
    "BatchSummary",
    "FileRow",
    "Task",
    "image_histogram",
    "palette_from_histogram",
    "plan",
    "process_file",
    "run",
    "shared_palette",
    "walked",
    "write_report",
]

#: File suffixes picked up when walking a folder (a file named on the command
#: line is always tried, whatever its suffix).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".webp", ".gif", ".tif", ".tiff", ".bmp"})
_FIELDS = [
    "input_path",
    "output_path",
    "status",
    "input_bytes",
    "output_bytes",
    "n_colors",
    "n_colors_used",
    "mse",
    "psnr",
    "seconds",
    "error",
]


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Task:
    """One input file and the output it goes to; ``name`` is how reports show it."""

    src: str
    dst: str
    name: str


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _walk(root: Path, recursive: bool, ext: str, skip: Path | None, errors: list[OSError]) -> Iterator[Path]:
    """Image files under ``root``, relative to it, in a sorted, reproducible order; the folders that
    cannot be listed (mode 000, say) go to ``errors``, never left out in silence."""
    for folder, dirs, files in os.walk(root, onerror=errors.append):
        here = Path(folder)
        if recursive:
            dirs[:] = sorted(
                d for d in dirs if not d.startswith(".") and not (skip is not None and (here / d).resolve() == skip)
            )
        else:
            dirs[:] = []
        for f in sorted(files):
            if walked(here / f, ext):
                yield (here / f).relative_to(root)


def _stamped_left_out(
    inputs: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str] | None, ext: str, recursive: bool
) -> int:
    """How many PNGs the walk of ``inputs``' folders left out as our outputs, by their name (``ext``) or
    their stamp (:func:`walked`), for the message of a run that found no input."""
    out = Path(output) if output is not None else None
    n = 0
    for inp in inputs:
        p = Path(inp)
        if not p.is_dir():
            continue
        skip = out.resolve() if out is not None and _is_inside(out, p) else None
        for folder, dirs, files in os.walk(p):
            here = Path(folder)
            dirs[:] = [d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip] if recursive else []
            n += sum(
                not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES and not walked(here / f, ext)
                for f in files
            )
    return n


def _stamped(path: Path) -> bool:
    """Whether ``path`` is an output of an earlier folder run, whatever its ``--ext`` then: a PNG
    carrying the resume stamp, which folder mode writes into every output (:func:`read_stamp`)."""
    return path.suffix.lower() == ".png" and read_stamp(path) is not None


def walked(path: str | os.PathLike[str], ext: str = ".kmc.png") -> bool:
    """Whether walking a folder takes the file at ``path`` as an input: not hidden, not one of our
    own outputs (ending in ``ext``, or a PNG carrying our stamp: :func:`_stamped`), with an image
    suffix (``IMAGE_SUFFIXES``). A file named as an input is taken whatever its name. (The web
    page asks this of its uploads, to give the command that makes the same files.)

    A bare ``ext`` (``.png``) names no output by itself: every PNG ends in it. Our outputs are then
    known by their stamp alone."""
    path = Path(path)
    name = path.name
    ours = ext.lower() not in OUTPUT_FORMATS and name.lower().endswith(ext.lower())
    if name.startswith(".") or ours or path.suffix.lower() not in IMAGE_SUFFIXES:
        return False
    return not _stamped(path)


def plan(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str] | None = None,
    *,
    ext: str = ".kmc.png",
    recursive: bool = False,
) -> tuple[list[Task], list[FileRow]]:
    """Map input files and folders to output paths.

    A folder's image files keep their place in the tree below ``output`` (below
    ``output/<folder name>`` when several folders are given); with no
    ``output`` each output goes beside its input. Files ending in ``ext`` (our
    own outputs), PNGs carrying our resume stamp (the outputs of an earlier run,
    whatever its ``ext``), hidden files and the output folder itself are never
    taken from a folder as inputs; a file given as an input is always taken.
    Returns the tasks and a failed row for every input whose output name is
    already taken by an earlier input (``a.png`` and ``a.jpg``), or is another
    input (``x.jpg`` beside an input ``x.png`` with ``ext=".png"``), and for every
    sub-folder that cannot be listed (the row names the folder). An input folder
    that cannot be listed raises :class:`NoInputError` (not readable).
    """
    out = Path(output) if output is not None else None
    dirs = [Path(i) for i in inputs if Path(i).is_dir()]
    names = [d.resolve().name for d in dirs]
    if len(set(names)) != len(names):
        raise BatchUsageError(
            f"two input folders have the same name ({', '.join(map(str, dirs))}); "
            "their outputs would mix in the output folder"
        )
    for d in dirs:  # an input folder that cannot be listed is an input not readable, not one without images
        try:
            with os.scandir(d):
                pass
        except OSError as exc:
            raise NoInputError(_not_readable(d, exc)) from None
    skip = out.resolve() if out is not None else None
    tasks: list[Task] = []
    rows: list[FileRow] = []
    pairs: list[tuple[Path, Path]] = []
    errors: list[OSError] = []
    for inp in inputs:
        p = Path(inp)
        if p.is_dir():
            base = out if out is not None else p
            if out is not None and len(dirs) > 1:
                base = out / p.resolve().name
            for rel in _walk(p, recursive, ext, skip if out is not None and _is_inside(out, p) else None, errors):
                pairs.append((p / rel, base / rel.parent / (rel.stem + ext)))
        else:
            folder = out if out is not None else p.parent
            pairs.append((p, folder / (p.stem + ext)))
    # A sub-folder that cannot be listed: a failed row naming it, as a file that cannot be read.
    for err in errors:
        name = str(err.filename) if err.filename is not None else "?"
        rows.append(FileRow(input_path=name, status="failed", error=_not_readable(name, err)))
    claims = OutputClaims(src for src, _ in pairs)
    for src, dst in pairs:
        # Never another input's output: it would replace that input (x.jpg -> x.png beside an input x.png).
        clash = claims.other_input(src, dst) or claims.claim(src, dst)
        if clash is not None:
            rows.append(FileRow(input_path=str(src), output_path=str(dst), status="failed", error=clash))
        else:
            tasks.append(Task(src=str(src), dst=str(dst), name=str(src)))
    return tasks, rows


def _not_readable(folder: str | os.PathLike[str], exc: OSError) -> str:
    return f"{folder}: folder not readable ({exc.strerror or exc})"


# --------------------------------------------------------------------------- one file


@dataclass
class FileRow:
    """One line of the report."""

    input_path: str
    output_path: str | None = None
    status: str = "done"  # done | skipped | failed
    input_bytes: int | None = None
    output_bytes: int | None = None
    n_colors: int | None = None
    n_colors_used: int | None = None
    mse: float | None = None
    psnr: float | None = None
    seconds: float | None = None
    error: str | None = None
    #: The warnings compressing the file raised (a multi-page TIFF's "only the first page"), for
    #: :func:`run` to print as the command line does for one file; not a column of the report.
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["warnings"]
        if d["psnr"] is not None and math.isinf(d["psnr"]):
            d["psnr"] = None  # lossless; JSON has no infinity
        return d


def process_file(task: Task, options: FileOptions) -> FileRow:
    """Compress one file by :func:`kmeans_compress.compress_file`'s rules; never raises for a bad file.

    Runs in a worker process or on a Dask worker: it touches only ``task.src``
    and ``task.dst`` and returns a small :class:`FileRow`.
    """
    start = time.perf_counter()
    row = FileRow(input_path=task.name, output_path=task.dst, n_colors=options.n_colors)
    # Caught here, in the worker: a warning raised there would reach the terminal as Python prints
    # it (file, line and source), whatever -q; run() prints it as one line, or not at all. Caught
    # for this thread only: the web page runs batches in threads, a Dask worker files in threads.
    with caught_warnings() as caught:
        _process(task, options, row)
    row.warnings = [str(w).replace(task.src, task.name) for w in caught]
    row.seconds = time.perf_counter() - start
    return row


def _process(task: Task, options: FileOptions, row: FileRow) -> None:
    """Fill in ``row`` with what :func:`compress_file` did, or why it failed."""
    try:
        if os.path.isfile(task.src):
            row.input_bytes = os.path.getsize(task.src)
        outcome = compress_file(task.src, task.dst, options)
        row.status = outcome.status
        row.n_colors_used = outcome.n_colors_used
        row.mse = outcome.mse
        row.psnr = None if outcome.mse is None else psnr(outcome.mse)
        row.output_bytes = outcome.output_bytes if outcome.status != "larger" else None
        if outcome.message is not None:
            row.error = _error_text(outcome.message, task)
    except Exception as exc:  # a batch goes on past any bad file
        row.status = "failed"
        row.error = _error_text(message_of(exc), task)


def _error_text(msg: str, task: Task) -> str:
    """A failure message naming the file as reports show it (``task.src`` may be absolute on Dask)."""
    msg = msg.replace(task.src, task.name)
    return msg if task.name in msg or str(Path(task.dst)) in msg else f"{task.name}: {msg}"


# --------------------------------------------------------------------------- the run


@dataclass
class BatchSummary:
    """What a batch did; ``rows`` are sorted by input path."""

    rows: list[FileRow] = field(default_factory=list)
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    @property
    def done(self) -> int:
        return self.count("done")

    @property
    def skipped(self) -> int:
        return self.count("skipped")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def larger(self) -> int:
        """Files left alone by ``skip_if_larger``."""
        return self.count("larger")

    @property
    def bytes_before(self) -> int:
        return sum(r.input_bytes or 0 for r in self.rows if r.status not in ("failed", "larger"))

    @property
    def bytes_after(self) -> int:
        return sum(r.output_bytes or 0 for r in self.rows if r.status not in ("failed", "larger"))

    def line(self) -> str:
        """The summary line."""
        larger = f", {self.larger} not smaller (left alone)" if self.larger else ""
        text = (
            f"{self.done} done, {self.skipped} skipped (up to date){larger}, {self.failed} failed; "
            f"{self.bytes_before:,} bytes -> {self.bytes_after:,} bytes"
        )
        if self.bytes_before:
            text += f" ({100.0 * self.bytes_after / self.bytes_before:.1f} %)"
        return text + (" (interrupted)" if self.interrupted else "")


#: How a report holds a file name that is not UTF-8 (Python's ``surrogateescape``, as ``os.fsdecode`` reads
#: it): in CSV as the name's own bytes, so the report names the file exactly as the file system does; in
#: JSON, which must be UTF-8, as ``\udcXX`` escapes of those bytes, which ``os.fsencode`` turns back into them.
REPORT_ERRORS = "surrogateescape"


def write_report(path: str | os.PathLike[str], rows: Sequence[FileRow], *, overwrite: bool = True) -> None:
    """Write the rows as CSV or JSON (by the suffix), atomically; replaces an existing file only if ``overwrite``.

    :func:`run` decides ``overwrite`` before any work (:func:`_check_report`). File names that are not
    UTF-8 are kept recoverable (:data:`REPORT_ERRORS`).
    """
    p = Path(path)
    if p.suffix.lower() == ".json":
        text = json.dumps([r.to_dict() for r in rows], indent=2, allow_nan=False) + "\n"
    else:
        buf = _io.StringIO()
        w = csv.DictWriter(buf, fieldnames=_FIELDS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            d = asdict(r)
            w.writerow({k: ("" if d[k] is None else d[k]) for k in _FIELDS})
        text = buf.getvalue()
    write_atomic(p, text.encode("utf-8", REPORT_ERRORS), overwrite=overwrite)


def _check_report(path: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]], force: bool = False) -> bool:
    """Whether the report may replace the file at ``path``, by the outputs' rules; raises if it may not.

    As for an output in folder mode: a file that is not there is simply
    written; an input never, not even with ``force`` (OutputExistsError); a
    report this program wrote (an earlier run of the same command, which a rerun
    resumes) is replaced, as an output with our stamp is; anyone else's file
    only with ``force`` (OutputExistsError).
    """
    p = Path(path)
    if not os.path.lexists(p):
        return False
    if p.is_dir():
        raise BatchUsageError(f"--report {path}: is a folder")
    refuse_input(p, inputs, "--report")
    if force or _is_report(p):
        return True
    raise OutputExistsError(
        f"--report {path}: already exists and is not a report of kmeans-compress (use --force to overwrite)"
    )


def _is_report(path: Path) -> bool:
    """Whether ``path`` holds what :func:`write_report` writes: a CSV with its header line, or a JSON list
    of rows with its fields (our "stamp" for a report)."""
    try:
        if path.suffix.lower() == ".json":
            rows = json.loads(path.read_bytes())
            return isinstance(rows, list) and all(isinstance(r, dict) and list(r) == _FIELDS for r in rows)
        with open(path, "rb") as fh:
            return fh.readline() == (",".join(_FIELDS) + "\n").encode("ascii")
    except (OSError, ValueError):
        return False


class TextStream(Protocol):
    """Where :func:`run` writes messages and the progress line (``sys.stderr`` by default)."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class _Progress:
    """One self-rewriting line on a terminal: files, files/s, bytes saved."""

    def __init__(self, total: int, stream: TextStream, enabled: bool) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled
        self.n = self.failed = self.saved = 0
        self.start = self.last = time.perf_counter()

    def update(self, row: FileRow) -> None:
        self.n += 1
        self.failed += row.status == "failed"
        if row.status != "failed" and row.input_bytes is not None and row.output_bytes is not None:
            self.saved += row.input_bytes - row.output_bytes
        now = time.perf_counter()
        if self.enabled and (now - self.last >= 0.1 or self.n == self.total):
            self.last = now
            rate = self.n / max(now - self.start, 1e-9)
            self.stream.write(
                f"\r\x1b[K{self.n}/{self.total} files  {rate:.1f} files/s  "
                f"saved {self.saved / 1e6:,.1f} MB  {self.failed} failed"
            )
            self.stream.flush()

    def message(self, text: str) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def run(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str] | None = None,
    *,
    options: FileOptions | dict[str, Any] | None = None,
    ext: str = ".kmc.png",
    recursive: bool = False,
    force: bool = False,
    jobs: int | None = None,
    shared: bool = False,
    report: str | os.PathLike[str] | None = None,
    dask: Any = None,
    progress: bool | None = None,
    stream: TextStream | None = None,
    prog: str = "kmeans-compress",
    strip: bool = False,
    skip_if_larger: bool = False,
    quiet: bool = False,
) -> BatchSummary:
    """Compress files and folders; see the module docstring for resuming.

    Parameters
    ----------
    inputs : paths of files and folders
    output : folder, created if missing; None puts each output beside its input
    options : :class:`kmeans_compress.FileOptions`, or a dict of its fields (the keyword
        arguments of :func:`kmeans_compress.compress`: ``n_colors``, ``random_state``, ...;
        ``quality``, ``psnr`` or ``max_bytes`` to search each file's palette size; ``palette``
        to map every file to given colours); they are stamped into every output
    recursive : walk sub-folders, keeping the tree
    force : redo every file and overwrite any existing output (never an input); also
        ``options.force``
    jobs : worker processes (default: the cores); with ``dask``, ignored unless
        ``dask == "local"``, where it is the number of local workers
    shared : one palette for all the files (:func:`shared_palette`)
    report : write one row per file to this ``.csv`` or ``.json`` file: never an input, and an existing
        file only if it is an earlier report of this program, or with ``force`` (:func:`_check_report`)
    dask : None, a ``distributed.Client``, a scheduler address, or ``"local"``
    progress : progress line on ``stream``; default: when it is a terminal
    stream : where messages go (default ``sys.stderr``): errors, and each file's warnings as one line
        ``<prog>: warning: ...``
    quiet : no warnings on ``stream`` (errors are still written), as ``-q`` for one file
    strip : write no metadata (ICC profile) into the outputs; also ``options.strip``
    skip_if_larger : write nothing for a file whose result is not smaller than it (status "larger");
        also ``options.skip_if_larger``
    """
    stream = sys.stderr if stream is None else stream
    opts = options if isinstance(options, FileOptions) else FileOptions(**(options or {}))
    opts = replace(
        opts,
        force=opts.force or force,
        strip=opts.strip or strip,
        skip_if_larger=opts.skip_if_larger or skip_if_larger,
        resume=True,
    )
    given_palette = opts.palette  # --map: every file mapped to these colours
    searching = [
        name
        for name, on in (
            ("--quality", opts.quality is not None),
            ("--psnr", opts.psnr is not None),
            ("--max-bytes", opts.max_bytes is not None),
        )
        if on
    ]
    jobs = default_jobs() if jobs is None else int(jobs)
    if jobs < 1:
        raise BatchUsageError(f"--jobs must be >= 1, got {jobs}")
    if output is not None and Path(output).exists() and not Path(output).is_dir():
        raise BatchUsageError(f"-o {output}: must be a folder with folder inputs, --jobs, --report, ...")
    if (
        output is not None
        and not Path(output).exists()
        and not str(output).endswith(("/", os.sep))
        and Path(output).suffix.lower() in OUTPUT_FORMATS
    ):
        # One file with --report or --jobs: "-o x.png" made a folder named x.png.
        raise BatchUsageError(
            f"-o {output}: names an image file, but with folder inputs, --jobs, --report, ... -o is a folder "
            "(end it with / for a folder of that name)"
        )
    # The report may go into the output folder, which the run creates (the web page's "same as"
    # command: -o compressed/ --report compressed/report.csv, in a folder that has neither).
    report_folder = Path(report).parent if report is not None else None
    if (
        report_folder is not None
        and not report_folder.is_dir()
        and not (output is not None and os.path.abspath(report_folder) == os.path.abspath(output))
    ):
        # A missing folder, as -o's and --plot's: exit 7 on the command line (not a usage error).
        raise FileNotFoundError(f"--report {report}: the folder {report_folder} does not exist")
    # Writable folders are checked before any work (exit 7), not found out at the end (the report,
    # written last) or file by file once each is compressed (an output folder).
    if report_folder is not None and report_folder.is_dir() and not writable_folder(report_folder):
        raise PermissionError(f"--report {report}: the folder {report_folder} is not writable")
    if shared and given_palette is not None:
        raise BatchUsageError("--shared-palette and --map both choose the palette; give one")
    if shared and searching:
        raise BatchUsageError(
            f"--shared-palette gives every file the same palette; {searching[0]} sizes each file's own"
        )
    if given_palette is not None and searching:
        raise BatchUsageError(f"--map gives every file the same palette; {searching[0]} sizes each file's own")
    if shared and opts.space != "rgb":
        raise BatchUsageError(
            "--shared-palette fits and maps the shared colours in RGB; --space is not available with it yet"
        )
    tasks, rows = plan(inputs, output, ext=ext, recursive=recursive)
    if not tasks and not rows:
        hints = []
        stamped = _stamped_left_out(inputs, output, ext, recursive)
        if stamped:
            pngs = f"{stamped} PNGs there are" if stamped > 1 else "1 PNG there is"
            hints.append(
                f"{pngs} kmeans-compress's output (named *{ext} or carrying its stamp): of an earlier run, "
                "left out; name them as inputs to compress them again"
            )
        if not recursive:
            hints.append("-r includes sub-folders")
        hint = f" ({'; '.join(hints)})" if hints else ""
        raise NoInputError(f"no image files in {', '.join(map(str, inputs))}{hint}")
    replace_report = report is not None and _check_report(
        report, [t.src for t in tasks] + [r.input_path for r in rows], opts.force
    )
    # The cluster first: a scheduler address that is wrong or unreachable leaves nothing created.
    client, owned = dask_client(dask, jobs)
    try:
        if output is not None:
            try:
                Path(output).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise type(exc)(f"-o {output}: cannot create the folder ({exc.strerror or exc})") from None
            if not writable_folder(output):
                raise PermissionError(f"-o {output}: the folder is not writable")
    except BaseException:
        if owned:
            close_dask(client)
        raise
    for r in rows:
        r.n_colors = opts.n_colors
    if progress is None:
        progress = bool(getattr(stream, "isatty", lambda: False)())
    bar = _Progress(len(tasks) + len(rows), stream, bool(progress))
    for r in rows:
        bar.message(f"{prog}: error: {r.error}")
        bar.update(r)

    summary = BatchSummary(rows=rows)
    try:
        palette = given_palette
        if shared and tasks:
            # Files that cannot be in the palette fail here, each with its own reason; the
            # palette is that of the others (none left: no palette, nothing more to do).
            load = {"max_pixels": opts.max_pixels, "frame": opts.frame}
            srcs = [os.path.abspath(t.src) if client is not None else t.src for t in tasks]
            merged, errors = shared_histogram(srcs, load, jobs=jobs, client=client)
            for n in sorted(errors):
                t = replace(tasks[n], src=srcs[n])
                row = FileRow(
                    input_path=t.name,
                    output_path=t.dst,
                    status="failed",
                    n_colors=opts.n_colors,
                    error=_error_text(errors[n], t),
                )
                summary.rows.append(row)
                bar.message(f"{prog}: error: {row.error}")
                bar.update(row)
            tasks = [t for n, t in enumerate(tasks) if n not in errors]
            if merged is not None:
                palette = palette_from_histogram(
                    merged,
                    opts.n_colors,
                    opts.random_state,
                    n_init=opts.n_init,
                    max_iter=opts.max_iter,
                    tol=opts.tol,
                    fixed_colors=opts.fixed_colors,
                )
        file_options = replace(opts, palette=palette)
        work = [_absolute(t) for t in tasks] if client is not None else tasks
        planned = {t.name: t.dst for t in tasks}
        for _, res in execute(process_file, work, file_options, jobs=jobs, client=client):
            if isinstance(res, WorkerDied):
                res = FileRow(
                    input_path=res.item.name,
                    output_path=res.item.dst,
                    status="failed",
                    n_colors=opts.n_colors,
                    error=f"{res.item.name}: {res.message}",
                )
            if client is not None:
                res = _relative(res, planned)
            summary.rows.append(res)
            for text in res.warnings if not quiet else ():
                bar.message(f"{prog}: warning: {text}")
            if res.status == "failed":
                bar.message(f"{prog}: error: {res.error}")
            bar.update(res)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        bar.close()
        if owned:
            close_dask(client)
        summary.rows.sort(key=lambda r: r.input_path)
        if report is not None:
            write_report(report, summary.rows, overwrite=replace_report)
    return summary


def _absolute(t: Task) -> Task:
    return replace(t, src=os.path.abspath(t.src), dst=os.path.abspath(t.dst))


def _relative(row: FileRow, planned: dict[str, str]) -> FileRow:
    # Dask tasks carry absolute paths; report the output path as planned.
    if row.output_path is not None and row.input_path in planned:
        row.output_path = planned[row.input_path]
    return row
