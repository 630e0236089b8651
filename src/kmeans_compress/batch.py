"""Many images at once: folders, resume, worker processes, a shared palette, Dask.

The unit of work is one file: :func:`process_file` reads an input, compresses it
and writes its indexed PNG atomically, and returns one small report row. It
depends on nothing but the file, the options and the seed, so the bytes written
are the same whether files are done one after the other, in worker processes
or on a Dask cluster, in any order.

Resuming: every PNG written here carries a ``tEXt`` chunk (key
``kmeans-compress``) holding the options, the package version and the SHA-256
of the input it came from. A file whose output holds the stamp of the same
input bytes and the same options is *up to date* and skipped; an output with
the stamp of other options or of an older input is redone and replaced; an
output without a stamp is someone else's file and is left alone (the input is
reported as failed) unless ``force``.
"""

from __future__ import annotations

import csv
import hashlib
import io as _io
import json
import math
import os
import struct
import sys
import time
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TextIO

import numpy as np

from ._compress import compress, compress_with_palette, load_for_palette, stacked_frames  # compress_with_palette: re-exported
from ._exceptions import BatchUsageError, NoInputError
from ._nearest import nearest_centers
from ._histogram import ColorHistogram, color_histogram, merge_histograms, pack_rgb_u32
from .io import DEFAULT_MAX_PIXELS, OutputExistsError, UnsupportedImageError, load_image, write_atomic
from ._palette import palette_from_histogram
from .report import psnr

__all__ = [
    "BatchSummary",
    "FileRow",
    "Task",
    "compress_with_palette",
    "image_histogram",
    "palette_from_histogram",
    "plan",
    "process_file",
    "run",
    "shared_palette",
]

#: File suffixes picked up when walking a folder (a file named on the command
#: line is always tried, whatever its suffix).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".webp", ".gif", ".tif", ".tiff", ".bmp"})
#: Key of the PNG text chunk that stamps an output with what it was made from.
STAMP_KEY = "kmeans-compress"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FIELDS = [
    "input_path", "output_path", "status", "input_bytes", "output_bytes", "n_colors",
    "n_colors_used", "mse", "psnr", "seconds", "error",
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


def _walk(root: Path, recursive: bool, ext: str, skip: Path | None) -> Iterator[Path]:
    """Image files under ``root``, relative to it, in a sorted, reproducible order."""
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if recursive:
            dirs[:] = sorted(
                d for d in dirs
                if not d.startswith(".") and not (skip is not None and (here / d).resolve() == skip)
            )
        else:
            dirs[:] = []
        for f in sorted(files):
            if f.startswith(".") or f.lower().endswith(ext.lower()):
                continue
            if Path(f).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            yield (here / f).relative_to(root)


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
    own outputs), hidden files and the output folder itself are never taken as
    inputs. Returns the tasks and a failed row for every input whose output
    name is already taken by an earlier input (``a.png`` and ``a.jpg``).
    """
    out = Path(output) if output is not None else None
    dirs = [Path(i) for i in inputs if Path(i).is_dir()]
    names = [d.resolve().name for d in dirs]
    if len(set(names)) != len(names):
        raise BatchUsageError(
            f"two input folders have the same name ({', '.join(map(str, dirs))}); "
            "their outputs would mix in the output folder"
        )
    skip = out.resolve() if out is not None else None
    tasks: list[Task] = []
    rows: list[FileRow] = []
    taken: dict[str, str] = {}

    def add(src: Path, dst: Path) -> None:
        key = os.path.normcase(os.path.abspath(dst))
        if key in taken:
            rows.append(FileRow(input_path=str(src), output_path=str(dst), status="failed",
                                error=f"{src}: same output file as {taken[key]} ({dst})"))
            return
        taken[key] = str(src)
        tasks.append(Task(src=str(src), dst=str(dst), name=str(src)))

    for inp in inputs:
        p = Path(inp)
        if p.is_dir():
            base = out if out is not None else p
            if out is not None and len(dirs) > 1:
                base = out / p.resolve().name
            for rel in _walk(p, recursive, ext, skip if out is not None and _is_inside(out, p) else None):
                add(p / rel, base / rel.parent / (rel.stem + ext))
        else:
            folder = out if out is not None else p.parent
            add(p, folder / (p.stem + ext))
    return tasks, rows


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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["psnr"] is not None and math.isinf(d["psnr"]):
            d["psnr"] = None  # lossless; JSON has no infinity
        return d


@dataclass(frozen=True)
class Job:
    """Everything a worker needs besides the task: picklable and small."""

    options: dict[str, Any]  # keyword arguments of compress(), n_colors and random_state included
    force: bool = False
    palette: np.ndarray | None = None  # a shared palette: map to it instead of fitting one
    strip: bool = False  # no metadata (ICC profile) in the output
    skip_if_larger: bool = False  # write nothing when the result is not smaller than the input

    def stamp_options(self) -> dict[str, Any]:
        from . import __version__

        # Defaults filled in: the same options spelled fully or not give the same stamp.
        full = {**_compress_defaults(), **self.options}
        opts = {k: _jsonable(v) for k, v in sorted(full.items())}
        s: dict[str, Any] = {"version": __version__, "options": opts}
        if self.strip:
            s["strip"] = True
        if self.palette is not None:
            s["palette_sha256"] = hashlib.sha256(np.ascontiguousarray(self.palette, np.uint8).tobytes()).hexdigest()
        return s


def _compress_defaults() -> dict[str, Any]:
    import inspect

    return {
        name: p.default
        for name, p in inspect.signature(compress).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def add_text_chunk(png: bytes, key: str, text: str) -> bytes:
    """Insert a ``tEXt`` chunk right after the PNG's IHDR chunk."""
    if not png.startswith(_PNG_SIGNATURE):
        raise ValueError("not PNG data")
    (ihdr_len,) = struct.unpack(">I", png[8:12])
    end = 8 + 12 + ihdr_len
    body = b"tEXt" + key.encode("latin-1") + b"\0" + text.encode("latin-1")
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    return png[:end] + chunk + png[end:]


def read_stamp(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The stamp of a PNG written by this module, or None (not a PNG, no stamp, unreadable)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head != _PNG_SIGNATURE:
                return None
            while True:
                hdr = fh.read(8)
                if len(hdr) < 8:
                    return None
                length, ctype = struct.unpack(">I4s", hdr)
                if ctype in (b"IDAT", b"IEND"):
                    return None
                data = fh.read(length)
                fh.read(4)
                if ctype == b"tEXt":
                    key, _, value = data.partition(b"\0")
                    if key == STAMP_KEY.encode("latin-1"):
                        stamp = json.loads(value.decode("latin-1"))
                        return stamp if isinstance(stamp, dict) else None
    except (OSError, ValueError, struct.error):
        return None


def _remove_stale_temps(dst: Path) -> None:
    # write_atomic's temporary files left behind by a killed run: ".<name>.<random>.tmp"
    try:
        for tmp in dst.parent.glob(f".{dst.name}.*.tmp"):
            tmp.unlink(missing_ok=True)
    except OSError:
        pass


def process_file(task: Task, job: Job) -> FileRow:
    """Compress one file unless its output is up to date; never raises for a bad file.

    Runs in a worker process or on a Dask worker: it touches only ``task.src``
    and ``task.dst`` and returns a small :class:`FileRow`.
    """
    start = time.perf_counter()
    row = FileRow(input_path=task.name, output_path=task.dst, n_colors=job.options.get("n_colors"))
    src, dst = Path(task.src), Path(task.dst)
    try:
        if not src.is_file():
            raise FileNotFoundError(f"{task.name}: no such file" if not src.exists() else f"{task.name}: not a file")
        row.input_bytes = src.stat().st_size
        if os.path.lexists(dst) and os.path.exists(dst) and os.path.samefile(src, dst):
            raise OutputExistsError(f"{dst}: is the input file itself; inputs are never overwritten")
        digest = _sha256_file(task.src)
        wanted = job.stamp_options()
        overwrite = job.force
        if os.path.lexists(dst) and not job.force:
            stamp = read_stamp(dst)
            if stamp is None:
                raise OutputExistsError(
                    f"{dst}: already exists and was not written by kmeans-compress (use --force to overwrite)"
                )
            same = {k: stamp.get(k) for k in wanted} == wanted
            if same and stamp.get("input_sha256") == digest:
                row.status = "skipped"
                row.output_bytes = dst.stat().st_size
                row.n_colors_used = stamp.get("n_colors_used")
                row.mse = stamp.get("mse")
                row.psnr = None if row.mse is None else psnr(float(row.mse))
                row.seconds = time.perf_counter() - start
                return row
            overwrite = True  # our own output, made from another input or with other options
        if job.palette is None:
            result = compress(task.src, **job.options)
        else:
            load = {k: v for k, v in job.options.items() if k in ("max_pixels", "frame")}
            result = compress_with_palette(task.src, job.palette, **load)
        rep = result.report
        stamp = dict(wanted, input_sha256=digest, n_colors_used=rep.n_colors_used, mse=rep.mse)
        data = add_text_chunk(result.to_png_bytes(strip=job.strip), STAMP_KEY, json.dumps(stamp, sort_keys=True, separators=(",", ":")))
        row.n_colors_used = rep.n_colors_used
        row.mse = rep.mse
        row.psnr = rep.psnr
        if job.skip_if_larger and len(data) >= row.input_bytes:
            row.status = "larger"
            row.error = f"{task.name}: the result ({len(data):,} bytes) is not smaller; nothing written"
            row.seconds = time.perf_counter() - start
            return row
        dst.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(dst)
        write_atomic(dst, data, overwrite=overwrite)
        row.output_bytes = len(data)
    except Exception as exc:  # a batch goes on past any bad file
        row.status = "failed"
        row.error = _error_text(str(exc) or type(exc).__name__, task)
    row.seconds = time.perf_counter() - start
    return row


def _error_text(msg: str, task: Task) -> str:
    """A failure message naming the file as reports show it (``task.src`` may be absolute on Dask)."""
    msg = msg.replace(task.src, task.name)
    return msg if task.name in msg or str(Path(task.dst)) in msg else f"{task.name}: {msg}"


# --------------------------------------------------------------------------- shared palette


def image_histogram(image: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS, frame: int | None = None) -> ColorHistogram:
    """Colour histogram of one image (a path, PIL image or array), for :func:`merge_histograms`.

    Every frame of an animation counts, as :func:`compress_with_palette` maps
    them all; ``max_pixels`` and ``frame`` as :func:`kmeans_compress.load_image`.
    """
    return _frames_histogram(load_image(image, max_pixels=max_pixels, frame=frame))


def _frames_histogram(loaded: Any) -> ColorHistogram:
    """The RGB histogram of every frame of a loaded image together."""
    rgb, _ = stacked_frames(loaded)
    return color_histogram(pack_rgb_u32(rgb.reshape(-1, 3)))


def _histogram_or_error(item: tuple[int, Any], load: dict[str, Any]) -> ColorHistogram | str:
    """``(index, image)`` -> the image's histogram, or why it cannot share a palette (runs in a worker).

    The image is loaded as :func:`compress_with_palette` loads it (the same
    ``max_pixels`` and ``frame``, transparency refused), so exactly the images
    that will be mapped to the palette are in it.
    """
    try:
        return _frames_histogram(load_for_palette(item[1], **load))
    except Exception as exc:  # left out of the palette; the caller reports it
        return str(exc) or type(exc).__name__


def _shared_histogram(
    items: Sequence[Any], load: dict[str, Any], *, jobs: int = 1, client: Any = None
) -> tuple[ColorHistogram | None, dict[int, str]]:
    """Merged histogram of the images that can share a palette (None if none can), and why each other cannot.

    One way for every backend: serial, worker processes or Dask give the same
    merged histogram (merging does not depend on the order) and the same errors.
    """
    paths = all(isinstance(i, (str, os.PathLike)) for i in items)
    work = [(n, str(i) if paths else i) for n, i in enumerate(items)]
    if not paths:  # arrays and PIL images stay in this process
        jobs, client = 1, None
    merged: ColorHistogram | None = None
    pending: list[ColorHistogram] = []
    errors: dict[int, str] = {}
    for (n, _), h in _execute(_histogram_or_error, work, load, jobs=jobs, client=client):
        if isinstance(h, _WorkerDied):
            errors[n] = h.message
        elif isinstance(h, str):
            errors[n] = h
        else:
            pending.append(h)
        if len(pending) >= 16:
            merged = merge_histograms(([merged] if merged is not None else []) + pending)
            pending = []
    if pending:
        merged = merge_histograms(([merged] if merged is not None else []) + pending)
    return merged, errors


def shared_palette(
    images: Iterable[Any],
    n_colors: int = 16,
    random_state: Any = 0,
    *,
    jobs: int = 1,
    client: Any = None,
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    frame: int | None = None,
) -> np.ndarray:
    """One palette for a set of images: merge their colour histograms, cluster once.

    The histograms are computed in ``jobs`` worker processes (or on the Dask
    ``client``'s workers when given; images must then be paths the workers can
    read) and merged as they arrive, so only a few are held at once. The merge
    does not depend on the order, so the palette is the same however the work
    is spread. Every frame of an animation counts. Images that
    :func:`compress_with_palette` would refuse (unreadable, more pixels than
    ``max_pixels``, with transparency) are left out, whatever ``jobs``;
    UnsupportedImageError when that leaves none.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((4, 4, 3), np.uint8); b = np.full((4, 4, 3), 200, np.uint8)
    >>> shared_palette([a, b], n_colors=2).tolist()
    [[0, 0, 0], [200, 200, 200]]
    """
    items = list(images)
    if not items:
        raise ValueError("shared_palette needs at least one image.")
    merged, errors = _shared_histogram(items, {"max_pixels": max_pixels, "frame": frame}, jobs=jobs, client=client)
    if merged is None:
        raise UnsupportedImageError(f"none of the {len(items)} images can be used for a shared palette ({errors[0]})")
    return palette_from_histogram(merged, n_colors, random_state, n_init=n_init, max_iter=max_iter, tol=tol)


# --------------------------------------------------------------------------- executing


def default_jobs() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _worker_init(parent_alive: Any, parent_end: Any) -> None:
    """Set up a worker process: Ctrl-C is the parent's business, and the worker dies with the parent.

    ``parent_alive`` is the read end of a pipe whose write end only the parent
    holds (``parent_end`` is this process's copy of it, closed here). When the
    parent is gone, however it ended (``kill -9``, the OOM killer), the read
    gives EOF and the worker exits. Without this a killed run left its workers
    asleep forever, waiting on a queue they themselves hold open, and with them
    the forkserver (which stops only when no process holds its "alive" pipe)
    and the resource tracker (which stops when no process holds its pipe).
    """
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    parent_end.close()
    threading.Thread(target=_exit_when_closed, args=(parent_alive,), name="kmeans-compress parent watch",
                     daemon=True).start()


def _exit_when_closed(conn: Any) -> None:
    try:
        while True:
            conn.recv_bytes()  # nothing is ever sent: this returns only at EOF, when the parent is gone
    except (EOFError, OSError):
        pass
    os._exit(1)  # as if killed with the parent: an output being written stays a temporary file


def _execute(fn: Callable[..., Any], items: Sequence[Any], *args: Any, jobs: int = 1,
             client: Any = None) -> Iterator[tuple[Any, Any]]:
    """Yield ``(item, fn(item, *args))`` as they complete, with at most 2 x workers in flight."""
    if client is not None:
        yield from _execute_dask(client, fn, items, *args)
        return
    if jobs <= 1:
        for it in items:
            yield it, fn(it, *args)
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # forkserver: no fork of a process that may hold threads; the server imports numpy once.
    ctx = mp.get_context("forkserver") if "forkserver" in mp.get_all_start_methods() else mp.get_context()
    todo = iter(items)
    limit = 2 * jobs
    # Only this process holds parent_end: its end (close or death) is EOF on parent_alive in every worker.
    parent_alive, parent_end = ctx.Pipe(duplex=False)
    pool_args = dict(max_workers=jobs, mp_context=ctx, initializer=_worker_init, initargs=(parent_alive, parent_end))
    pool = ProcessPoolExecutor(**pool_args)
    inflight: dict[Any, Any] = {}
    try:
        while True:
            while len(inflight) < limit:
                it = next(todo, _END)
                if it is _END:
                    break
                inflight[pool.submit(fn, it, *args)] = it
            if not inflight:
                break
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            broken = False
            for fut in sorted(done, key=lambda f: id(f)):
                it = inflight.pop(fut)
                try:
                    yield it, fut.result()
                except BrokenProcessPool:
                    broken = True
                    yield it, _WorkerDied(it)
            if broken:  # a worker was killed (out of memory?): start a new pool, go on
                for fut, it in list(inflight.items()):
                    yield it, _WorkerDied(it)
                inflight.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = ProcessPoolExecutor(**pool_args)
    except BaseException:  # Ctrl-C or the caller stopped: don't wait for the files in progress
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        parent_end.close()
        parent_alive.close()


def _execute_dask(client: Any, fn: Callable[..., Any], items: Sequence[Any], *args: Any) -> Iterator[tuple[Any, Any]]:
    from distributed import as_completed

    n_workers = max(1, sum(client.nthreads().values()))
    todo = iter(items)
    futures = as_completed()
    owner: dict[str, Any] = {}

    def submit() -> bool:
        it = next(todo, _END)
        if it is _END:
            return False
        fut = client.submit(fn, it, *args, pure=False)
        owner[fut.key] = it
        futures.add(fut)
        return True

    for _ in range(2 * n_workers):
        if not submit():
            break
    try:
        for fut in futures:
            it = owner.pop(fut.key)
            try:
                res = fut.result()
            except Exception as exc:  # a lost worker, or code missing on it
                res = _WorkerDied(it, exc)
            fut.release()
            yield it, res
            submit()
    finally:
        for fut in list(futures.futures):
            fut.cancel()


class _End:
    pass


_END = _End()


class _WorkerDied:
    def __init__(self, item: Any, exc: BaseException | None = None) -> None:
        self.item = item
        self.message = f"the worker died ({exc})" if exc is not None else "the worker process died"


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
        text = (f"{self.done} done, {self.skipped} skipped (up to date){larger}, {self.failed} failed; "
                f"{self.bytes_before:,} bytes -> {self.bytes_after:,} bytes")
        if self.bytes_before:
            text += f" ({100.0 * self.bytes_after / self.bytes_before:.1f} %)"
        return text + (" (interrupted)" if self.interrupted else "")


def write_report(path: str | os.PathLike[str], rows: Sequence[FileRow]) -> None:
    """Write the rows as CSV or JSON (by the suffix), atomically; replaces an older report."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        text = json.dumps([r.to_dict() for r in rows], indent=2, allow_nan=False) + "\n"
    else:
        buf = _io.StringIO()
        w = csv.DictWriter(buf, fieldnames=_FIELDS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            d = asdict(r)
            w.writerow({k: ("" if v is None else v) for k, v in d.items()})
        text = buf.getvalue()
    write_atomic(p, text.encode("utf-8"), overwrite=True)


class _Progress:
    """One self-rewriting line on a terminal: files, files/s, bytes saved."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
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
    options: dict[str, Any] | None = None,
    ext: str = ".kmc.png",
    recursive: bool = False,
    force: bool = False,
    jobs: int | None = None,
    shared: bool = False,
    report: str | os.PathLike[str] | None = None,
    dask: Any = None,
    progress: bool | None = None,
    stream: TextIO | None = None,
    prog: str = "kmeans-compress",
    strip: bool = False,
    skip_if_larger: bool = False,
) -> BatchSummary:
    """Compress files and folders; see the module docstring for resuming.

    Parameters
    ----------
    inputs : paths of files and folders
    output : folder, created if missing; None puts each output beside its input
    options : keyword arguments of :func:`kmeans_compress.compress` (``n_colors``,
        ``random_state``, ...); they are stamped into every output
    recursive : walk sub-folders, keeping the tree
    force : redo every file and overwrite any existing output (never an input)
    jobs : worker processes (default: the cores); with ``dask``, ignored unless
        ``dask == "local"``, where it is the number of local workers
    shared : one palette for all the files (:func:`shared_palette`)
    report : write one row per file to this ``.csv`` or ``.json`` file
    dask : None, a ``distributed.Client``, a scheduler address, or ``"local"``
    progress : progress line on ``stream``; default: when it is a terminal
    stream : where messages go (default ``sys.stderr``)
    strip : write no metadata (ICC profile) into the outputs
    skip_if_larger : write nothing for a file whose result is not smaller than it (status "larger")
    """
    stream = sys.stderr if stream is None else stream
    options = dict(options or {})
    options.setdefault("n_colors", 16)
    options.setdefault("random_state", 0)
    jobs = default_jobs() if jobs is None else int(jobs)
    if jobs < 1:
        raise BatchUsageError(f"--jobs must be >= 1, got {jobs}")
    if output is not None and Path(output).exists() and not Path(output).is_dir():
        raise BatchUsageError(f"-o {output}: must be a folder with folder inputs, --jobs, --report, ...")
    if report is not None and not (Path(report).parent if str(Path(report).parent) else Path(".")).is_dir():
        raise BatchUsageError(f"--report {report}: the folder {Path(report).parent} does not exist")
    if shared and (options.get("dither") or options.get("space", "rgb") != "rgb"):
        raise BatchUsageError(
            "--shared-palette maps every pixel to its nearest shared colour in RGB, without dithering; "
            "--dither and --space are not available with it yet"
        )
    tasks, rows = plan(inputs, output, ext=ext, recursive=recursive)
    if not tasks and not rows:
        hint = "" if recursive else " (-r includes sub-folders)"
        raise NoInputError(f"no image files in {', '.join(map(str, inputs))}{hint}")
    if output is not None:
        Path(output).mkdir(parents=True, exist_ok=True)
    for r in rows:
        r.n_colors = options["n_colors"]
    if progress is None:
        progress = hasattr(stream, "isatty") and stream.isatty()
    bar = _Progress(len(tasks) + len(rows), stream, bool(progress))
    for r in rows:
        bar.message(f"{prog}: error: {r.error}")
        bar.update(r)

    client, owned = _dask_client(dask, jobs)
    summary = BatchSummary(rows=rows)
    try:
        palette = None
        if shared and tasks:
            # Files that cannot be in the palette fail here, each with its own reason; the
            # palette is that of the others (none left: no palette, nothing more to do).
            load = {k: v for k, v in options.items() if k in ("max_pixels", "frame")}
            srcs = [os.path.abspath(t.src) if client is not None else t.src for t in tasks]
            merged, errors = _shared_histogram(srcs, load, jobs=jobs, client=client)
            for n in sorted(errors):
                t = replace(tasks[n], src=srcs[n])
                row = FileRow(input_path=t.name, output_path=t.dst, status="failed", n_colors=options["n_colors"],
                              error=_error_text(errors[n], t))
                summary.rows.append(row)
                bar.message(f"{prog}: error: {row.error}")
                bar.update(row)
            tasks = [t for n, t in enumerate(tasks) if n not in errors]
            if merged is not None:
                palette = palette_from_histogram(
                    merged, options["n_colors"], options["random_state"],
                    **{k: v for k, v in options.items() if k in ("n_init", "max_iter", "tol")},
                )
        job = Job(options=options, force=force, palette=palette, strip=strip, skip_if_larger=skip_if_larger)
        work = [_absolute(t) for t in tasks] if client is not None else tasks
        planned = {t.name: t.dst for t in tasks}
        for _, res in _execute(process_file, work, job, jobs=jobs, client=client):
            if isinstance(res, _WorkerDied):
                res = FileRow(input_path=res.item.name, output_path=res.item.dst, status="failed",
                              n_colors=options["n_colors"], error=f"{res.item.name}: {res.message}")
            if client is not None:
                res = _relative(res, planned)
            summary.rows.append(res)
            if res.status == "failed":
                bar.message(f"{prog}: error: {res.error}")
            bar.update(res)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        bar.close()
        if owned:
            _close_dask(client)
        summary.rows.sort(key=lambda r: r.input_path)
        if report is not None:
            write_report(report, summary.rows)
    return summary


def _absolute(t: Task) -> Task:
    return replace(t, src=os.path.abspath(t.src), dst=os.path.abspath(t.dst))


def _relative(row: FileRow, planned: dict[str, str]) -> FileRow:
    # Dask tasks carry absolute paths; report the output path as planned.
    if row.output_path is not None and row.input_path in planned:
        row.output_path = planned[row.input_path]
    return row


def _dask_client(dask: Any, jobs: int) -> tuple[Any, bool]:
    """(client, whether we made it and must close it)."""
    if dask is None:
        return None, False
    if not isinstance(dask, str):
        return dask, False
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise BatchUsageError(
            "--dask needs dask.distributed: pip install 'kmeans-compress[dask]'"
        ) from None
    if dask == "local":
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster), True
    try:
        return Client(dask, timeout="20s"), True
    except (OSError, TimeoutError) as exc:
        raise BatchUsageError(f"--dask {dask}: cannot reach the scheduler ({exc})") from None


def _close_dask(client: Any) -> None:
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()
