"""``kmeans-compress serve``: a local web page to compress images and compare before saving.

A front end, like :mod:`kmeans_compress.cli`: it parses requests and shapes
answers, and leaves the work to the package. Every compression goes through one
function, :func:`_compress_one`, which makes the same calls as
``kmeans-compress IN -k K ... -o OUT.png``, so the page's PNG and the command
line's file are the same bytes. Several images go through folder mode
(:func:`kmeans_compress.batch.run`) in a temporary folder and come back as a zip
with the CSV report.

Needs the ``web`` extra (Starlette and uvicorn); without it, importing this module
works and :func:`main` says what to install.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import hashlib
import io as _io
import os
import re
import shlex
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import __version__, batch, load_image
from ._backend import available_cores, threads_at_most
from ._cli_common import EXIT_USAGE, Parser, UsageError, error, parse_int, positive_int
from ._colorspace import SPACES
from ._decode import DEFAULT_MAX_PIXELS as CLI_MAX_PIXELS
from ._decode import LoadedImage
from ._exceptions import ImageNotFoundError, ImageTooLargeError, UnsupportedImageError, caught_warnings, message_of
from ._files import FileOptions, compress_file

try:
    import anyio.to_thread
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    _MISSING: str | None = None
except ImportError as _exc:  # the web extra is not installed
    _MISSING = _exc.name or str(_exc)

__all__ = ["Options", "create_app", "main"]

PROG = "kmeans-compress"
INSTALL_HINT = "pip install 'kmeans-compress[web]'"
K_MIN, K_MAX = 1, 256  # the API takes what -k takes; the page's slider runs from 2
DEFAULT_MAX_UPLOAD_MB = 64
DEFAULT_MAX_PIXELS = 50_000_000  # a 12-megapixel photo fits four times; the CLI allows 179 M
DEFAULT_CACHE_MB = 768
DEFAULT_RESULT_CACHE_MB = 256
MAX_BATCH_FILES = 500
#: Largest ``seq`` (the page's request counter): JavaScript's largest exact integer.
SEQ_MAX = 2**53 - 1
#: RMS error (0-255) at which the heat map reaches its brightest colour.
HEAT_MAX = 48.0
# The page shows these formats itself; others (TIFF) get a PNG of the decoded pixels.
BROWSER_FORMATS = frozenset({"PNG", "JPEG", "GIF", "WEBP", "BMP"})


# --------------------------------------------------------------------------- options and errors


class HTTPError(Exception):
    """An answer other than 200: ``status`` and the one-line message the CLI would print."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.extra = status, extra

    def body(self) -> dict[str, Any]:
        return {"error": f"{PROG}: error: {self}", **self.extra}


@dataclass(frozen=True)
class Options:
    """The per-image options the page offers, each one a command-line flag."""

    n_colors: int = 16
    space: str = "rgb"
    dither: bool = False
    seed: int = 0
    strip: bool = False

    @classmethod
    def parse(cls, values: Any) -> Options:
        """From query parameters or JSON; a bad value raises HTTPError(400) worded as the CLI's.

        Examples
        --------
        >>> Options.parse({"k": "8", "space": "lab", "dither": "1"})
        Options(n_colors=8, space='lab', dither=True, seed=0, strip=False)
        """

        k = _integer(values, "k", "argument -k/--colors", 16)
        if not K_MIN <= k <= K_MAX:
            raise HTTPError(
                400,
                f"argument -k/--colors: must be from {K_MIN} to {K_MAX} for PNG output (a PNG palette "
                f"holds at most {K_MAX} colours), got {k}",
            )
        space = values.get("space", "rgb")
        if space not in SPACES:
            choices = ", ".join(repr(s) for s in SPACES)
            raise HTTPError(400, f"argument --space: invalid choice: {space!r} (choose from {choices})")
        seed = _integer(values, "seed", "argument --seed", 0)
        if seed < 0:
            raise HTTPError(400, f"argument --seed: must be >= 0, got {seed}")
        return cls(k, space, _flag(values, "dither"), seed, _flag(values, "strip"))

    def query(self) -> str:
        return (
            f"k={self.n_colors}&space={self.space}&dither={int(self.dither)}&seed={self.seed}&strip={int(self.strip)}"
        )


def _integer(values: Any, key: str, name: str, default: int) -> int:
    """``values[key]`` as an int; HTTPError(400) for anything else. Every number of the API goes
    through here: JSON's NaN, Infinity and 1e400 are floats, and so refused, never converted."""
    raw = values.get(key, default)
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise HTTPError(400, f"{name}: {raw!r} is not an integer")
    try:
        return int(raw)
    except ValueError:
        raise HTTPError(400, f"{name}: {raw!r} is not an integer") from None


def _flag(values: Any, key: str) -> bool:
    raw = values.get(key, False)
    if isinstance(raw, bool):
        return raw
    if str(raw).lower() in ("1", "true", "on", "yes"):
        return True
    if str(raw).lower() in ("", "0", "false", "off", "no"):
        return False
    raise HTTPError(400, f"{key}: expected 0 or 1, got {raw!r}")


def command_line(name: str, options: Options) -> str:
    """The ``kmeans-compress`` command that writes the same file as the page.

    Examples
    --------
    >>> command_line("my photo.jpg", Options(n_colors=32, space="lab", dither=True))
    "kmeans-compress 'my photo.jpg' -k 32 --space lab --dither -o 'my photo.kmc.png'"
    >>> command_line("-x.png", Options())
    'kmeans-compress ./-x.png -k 16 -o ./-x.kmc.png'
    """

    def arg(path: str) -> str:  # never read as an option (or as the 'demo' word)
        return "./" + path if path.startswith("-") or path in ("demo", "sweep", "serve") else path

    parts = [PROG, arg(name), "-k", str(options.n_colors)]
    if options.space != "rgb":
        parts += ["--space", options.space]
    if options.dither:
        parts.append("--dither")
    if options.seed:
        parts += ["--seed", str(options.seed)]
    if options.strip:
        parts.append("--strip")
    parts += ["-o", arg(output_name(name))]
    return " ".join(shlex.quote(p) for p in parts)


def output_name(name: str) -> str:
    """The CLI's default output name: the input's stem + ``.kmc.png``."""
    return Path(name).stem + ".kmc.png"


#: Longest upload name, in UTF-8 bytes. File systems limit a name's bytes (255 on most), not its
#: characters, and a batch writes more than the upload's name: " (2)" to make it unique, then the
#: output's ".kmc.png" and its temporary file's "." + ".XXXXXXXXXXXX.tmp" (about 30 bytes in all).
NAME_MAX_BYTES = 200
#: A longer suffix is taken as part of the stem when a name is shortened ("a.<300 bytes>").
SUFFIX_MAX_BYTES = 16


def _clean_name(raw: str | None) -> str:
    """A file name safe to show and to use in a folder: no path, no control characters, at most
    ``NAME_MAX_BYTES`` bytes of UTF-8, keeping its suffix (the format the user sees).

    Examples
    --------
    >>> _clean_name("../../etc/passwd"), _clean_name("")
    ('passwd', 'image')
    >>> name = _clean_name("照片" * 45 + ".png")
    >>> len(name.encode()), name[-6:]
    (199, '片照.png')
    """
    name = Path((raw or "").replace("\\", "/")).name
    # A lone surrogate cannot be a file name (nor be sent back as JSON text): replaced by '?'.
    name = name.encode("utf-8", "replace").decode("utf-8")
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    if len(name.encode()) > NAME_MAX_BYTES:
        suffix = Path(name).suffix
        if len(suffix.encode()) > SUFFIX_MAX_BYTES:
            suffix = ""
        stem = name[: len(name) - len(suffix)].encode()[: NAME_MAX_BYTES - len(suffix.encode())]
        name = stem.decode("utf-8", "ignore").rstrip() + suffix  # "ignore": no half of a character
    return name if name not in ("", ".", "..") else "image"


# --------------------------------------------------------------------------- the one compression call


def _compress_one(source: LoadedImage | str | os.PathLike[str], options: Options) -> tuple[bytes, Any]:
    """Compress ``source`` as the command line does: the PNG bytes and the CompressionResult.

    The only place the page compresses anything: :func:`compress_file`, the
    function behind the command line, folder mode and Dask, with no output path
    (the PNG comes back in memory).
    """
    file_options = FileOptions(
        n_colors=options.n_colors,
        random_state=options.seed,
        space=options.space,
        dither=options.dither,
        strip=options.strip,
    )
    outcome = compress_file(source, None, file_options)
    assert outcome.data is not None and outcome.result is not None  # no skip rules without an output path
    result = outcome.result
    result.report = dataclasses.replace(result.report, output_bytes=len(outcome.data))
    return outcome.data, result


# --------------------------------------------------------------------------- figures for the page


def _inferno_lut() -> np.ndarray:
    """256 colours from black through purple and orange to pale yellow (inferno-like)."""
    stops = np.array(
        [
            [0, 0, 4],
            [40, 11, 84],
            [101, 21, 110],
            [159, 42, 99],
            [212, 72, 66],
            [245, 125, 21],
            [250, 193, 39],
            [252, 255, 164],
        ],
        float,
    )
    x = np.linspace(0, 1, len(stops))
    t = np.linspace(0, 1, 256)
    return np.stack([np.interp(t, x, stops[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)


_LUT = _inferno_lut()


def error_heatmap(original: np.ndarray, compressed: np.ndarray) -> bytes:
    """PNG of the per-pixel RMS error over the channels, 0 (black) to ``HEAT_MAX`` or more (pale yellow).

    Examples
    --------
    >>> a = np.zeros((2, 2, 3), np.uint8)
    >>> import io
    >>> Image.open(io.BytesIO(error_heatmap(a, a))).size
    (2, 2)
    """
    h = original.shape[0]
    level = np.empty(original.shape[:2], np.uint8)
    step = max(1, (1 << 20) // max(1, original.shape[1]))  # about a million pixels at a time
    for y in range(0, h, step):
        d = original[y : y + step].astype(np.int32) - compressed[y : y + step].astype(np.int32)
        rms = np.sqrt((d * d).mean(axis=2))
        level[y : y + step] = np.minimum(rms * (255.0 / HEAT_MAX), 255).astype(np.uint8)
    img = Image.fromarray(level, "L").convert("P")
    img.putpalette(_LUT.tobytes())
    buf = _io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _png_of(pixels: np.ndarray) -> bytes:
    buf = _io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


# --------------------------------------------------------------------------- caches and jobs


class ByteLRU:
    """A least-recently-used cache bounded by the bytes of its values (thread-safe).

    Examples
    --------
    >>> c = ByteLRU(10)
    >>> c.put("a", "A", 6); c.put("b", "B", 6)
    >>> c.get("a"), c.get("b"), c.nbytes
    (None, 'B', 6)
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Any, value: Any, nbytes: int) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.nbytes -= old[1]
            if nbytes > self.max_bytes:
                return  # larger than the whole cache: used once, not kept
            while self._items and self.nbytes + nbytes > self.max_bytes:
                self.nbytes -= self._items.popitem(last=False)[1][1]
            self._items[key] = (value, nbytes)
            self.nbytes += nbytes

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class _Upload:
    id: str
    name: str
    loaded: LoadedImage
    notes: list[str]


@dataclass
class _Result:
    png: bytes
    palette: np.ndarray
    labels: tuple[np.ndarray, ...]
    report: dict[str, Any]


def _loaded_bytes(loaded: LoadedImage) -> int:
    arrays = [loaded.pixels, loaded.alpha, *loaded.more_frames]
    hist = loaded.derived.get("rgb_histogram")
    if hist is not None:  # kept on the image by the pipeline: a slider move re-clusters it, not the pixels
        arrays += [hist.colors, hist.counts, getattr(hist, "keys", None)]
    return sum(a.nbytes for a in arrays if a is not None) + len(loaded.icc_profile or b"")


class Stale(Exception):
    """A newer request of the same page came in while this one waited: not computed."""


def _parallel_kernels_unsafe() -> bool:
    """True while numba's threading layer may be 'workqueue', which aborts on concurrent calls."""
    nb = sys.modules.get("numba")
    if nb is None:
        return True  # this job may load it: run alone until the layer is known
    try:
        return nb.threading_layer() == "workqueue"
    except ValueError:  # no parallel kernel has run yet
        return True


class Jobs:
    """At most ``slots`` jobs at a time (one per core); a page's older slider positions are dropped."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._slots = threading.BoundedSemaphore(slots)
        self._alone = threading.Lock()
        self._latest: dict[str, int] = {}
        self._lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.dropped = 0

    def announce(self, client: str | None, seq: int | None) -> None:
        """Record a page's request as its latest, on arrival."""
        if client is None or seq is None:
            return
        with self._lock:
            if len(self._latest) > 10_000:
                self._latest.clear()
            self._latest[client] = max(seq, self._latest.get(client, seq))

    def run(self, fn: Callable[[], Any], client: str | None = None, seq: int | None = None) -> Any:
        """Run ``fn`` in this thread when a slot is free, unless the page has asked for newer work since."""
        with self._slots:
            with self._lock:
                if client is not None and seq is not None and seq < self._latest.get(client, seq):
                    self.dropped += 1
                    raise Stale()
                self.running += 1
                self.peak = max(self.peak, self.running)
                share = available_cores() // self.running  # jobs side by side: each its share of the cores
            alone = _parallel_kernels_unsafe()
            if alone:
                self._alone.acquire()
            try:
                with threads_at_most(share):
                    return fn()
            finally:
                if alone:
                    self._alone.release()
                with self._lock:
                    self.running -= 1


# --------------------------------------------------------------------------- batches (folder mode)


class _ProgressStream:
    """The ``stream`` of :func:`kmeans_compress.batch.run`: reads its progress line and its messages."""

    _LINE = re.compile(r"(\d+)/(\d+) files")

    def __init__(self, job: _Batch) -> None:
        self.job = job

    def write(self, text: str) -> int:
        for m in self._LINE.finditer(text):
            self.job.done = int(m.group(1))
        for line in text.replace("\r", "\n").split("\n"):
            line = re.sub(r"\x1b\[K", "", line).strip()
            if line.startswith(f"{PROG}: error:"):
                self.job.errors.append(self.job.relative(line) or line)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@dataclass
class _Batch:
    id: str
    folder: Path
    options: Options
    #: The server's --max-pixels: an option of the run (a larger upload fails) and so of the stamp
    #: in every output; the command names it unless it is the command line's default.
    max_pixels: int = CLI_MAX_PIXELS
    names: list[str] = dataclasses.field(default_factory=list)
    uploaded: int = 0
    state: str = "uploading"  # uploading, running, done, failed
    done: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)
    summary: str = ""
    created: float = dataclasses.field(default_factory=time.time)

    def status(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "files": len(self.names),
            "done": self.done,
            "errors": self.errors[-20:],
            "summary": self.summary,
            "command": self.command(),
            "zip_url": f"/api/batch/{self.id}/zip" if self.state == "done" else None,
        }

    def relative(self, text: str | None) -> str | None:
        """``text`` with the job's temporary folder left out of its paths."""
        return None if text is None else text.replace(str(self.folder) + os.sep, "")

    def inputs(self) -> list[str]:
        """The uploads as input files, by name: each is tried, whatever its name (no extension,
        a hidden name), as a file named on the command line is; folder mode's walk would skip it."""
        return [f"images/{name}" for name in sorted(self.names)]

    def command(self) -> str:
        """The command that makes the same files, byte for byte: ``images/`` when the folder walk
        takes every upload, else the files one by one.

        With the server's ``--max-pixels`` unless it is the command line's default: each output's
        resume stamp holds the limit, so without it every file of the command would differ from the
        zip's (and the command, run over the unzipped outputs, would redo them all), and an upload
        over the server's limit, failed in the zip, would be compressed by the command.
        """
        o = self.options
        every = all(batch.walked(self.folder / "images" / n) for n in self.names)
        inputs = ["images/"] if every else map(shlex.quote, self.inputs())
        parts = [PROG, *inputs, "-o", "compressed/", "--report", "compressed/report.csv", "-k", str(o.n_colors)]
        parts += (["--space", o.space] if o.space != "rgb" else []) + (["--dither"] if o.dither else [])
        parts += (["--seed", str(o.seed)] if o.seed else []) + (["--strip"] if o.strip else [])
        parts += ["--max-pixels", str(self.max_pixels)] if self.max_pixels != CLI_MAX_PIXELS else []
        return " ".join(parts)


def _unique(name: str, names: list[str]) -> str:
    """``name``, or ``stem (2).suffix``, ... if an upload of ``names`` has the same output name.

    Not only the same name: ``x.png`` and ``x.jpg`` would both write ``x.kmc.png`` and folder
    mode refuses the second ("same output file"). Case is ignored, as by the file systems the
    zip is unpacked on. The batch's command names the uploads as renamed here, so it writes the
    same files.

    Examples
    --------
    >>> _unique("x.jpg", ["x.png"]), _unique("X.png", ["x.png", "x (2).png"]), _unique("y.png", ["x.png"])
    ('x (2).jpg', 'X (3).png', 'y.png')
    """
    taken = {output_name(n).lower() for n in names}
    stem, suffix, n = Path(name).stem, Path(name).suffix, 2
    candidate = name
    while output_name(candidate).lower() in taken:
        candidate, n = f"{stem} ({n}){suffix}", n + 1
    return candidate


def _run_batch(job: _Batch) -> None:
    """Folder mode on the job's uploads (as :meth:`_Batch.command`), then the zip of the outputs
    and the CSV report."""
    o = job.options
    out, report = job.folder / "compressed", job.folder / "compressed" / "report.csv"
    options = {
        "n_colors": o.n_colors,
        "random_state": o.seed,
        "space": o.space,
        "dither": o.dither,
        "max_pixels": job.max_pixels,
    }
    try:
        out.mkdir(exist_ok=True)
        summary = batch.run(
            [str(job.folder / name) for name in job.inputs()],
            str(out),
            options=options,
            jobs=1,
            progress=True,
            stream=_ProgressStream(job),
            prog=PROG,
            strip=o.strip,
        )
        job.done = len(summary.rows)
        # The report names files as the command line run in the job's folder would (images/a.png).
        rows = [
            dataclasses.replace(
                r,
                input_path=job.relative(r.input_path) or r.input_path,
                output_path=job.relative(r.output_path),
                error=job.relative(r.error),
            )
            for r in summary.rows
        ]
        batch.write_report(report, rows)
        job.summary = summary.line()
        with zipfile.ZipFile(job.folder / "result.zip", "w", zipfile.ZIP_STORED) as z:  # PNGs are compressed
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    z.write(path, path.relative_to(out).as_posix())
        job.state = "done"
    except Exception as exc:  # reported to the page, never a traceback
        job.errors.append(f"{PROG}: error: {message_of(exc)}")
        job.state = "failed"
    finally:
        shutil.rmtree(job.folder / "images", ignore_errors=True)


# --------------------------------------------------------------------------- the app


class _Server:
    """The state behind the routes: limits, caches, jobs and the temporary folder."""

    def __init__(
        self, max_upload_bytes: int, max_pixels: int, cache_bytes: int, result_cache_bytes: int, slots: int
    ) -> None:
        self.max_upload_bytes, self.max_pixels = max_upload_bytes, max_pixels
        self.images = ByteLRU(cache_bytes)
        self.results = ByteLRU(result_cache_bytes)
        self.jobs = Jobs(slots)
        self.batches: dict[str, _Batch] = {}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._tmp_lock = threading.Lock()

    # The only folder anything is written to; removed at shutdown (and at exit).
    def temp_folder(self) -> Path:
        with self._tmp_lock:
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="kmeans-compress-serve-")
                atexit.register(self.close)
            return Path(self._tmp.name)

    def close(self) -> None:
        with self._tmp_lock:
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None
            self.batches.clear()

    async def read_body(self, request: Request, name: str) -> bytes:
        limit = self.max_upload_bytes
        too_big = (
            f"{name}: the upload is larger than the limit of {limit:,} bytes "
            f"(start the server with a larger --max-upload-mb)"
        )
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise HTTPError(413, too_big)
        chunks, n = [], 0
        async for chunk in request.stream():
            n += len(chunk)
            if n > limit:
                raise HTTPError(413, too_big)
            chunks.append(chunk)
        return b"".join(chunks)

    def decode(self, data: bytes, name: str) -> _Upload:
        digest = hashlib.sha256(data).hexdigest()[:20]
        cached = self.images.get(digest)
        if cached is not None:
            return dataclasses.replace(cached, name=name)
        with caught_warnings() as caught:  # this thread's only: the page decodes in threads
            loaded = load_image(data, name=name, max_pixels=self.max_pixels)
        upload = _Upload(digest, name, loaded, [f"{PROG}: warning: {w}" for w in caught])
        self.images.put(digest, upload, _loaded_bytes(loaded))
        return upload

    def upload(self, image_id: str) -> _Upload:
        upload = self.images.get(image_id)
        if upload is None:
            raise HTTPError(
                404, f"image {image_id}: not in the server's cache (evicted or restarted); upload it again", gone=True
            )
        return upload

    def result(self, upload: _Upload, options: Options) -> _Result:
        key = (upload.id, options)
        cached = self.results.get(key)
        if cached is not None:
            return cached
        png, res = _compress_one(upload.loaded, options)
        # The first compression keeps the image's colour histogram on it: count it in the cache.
        self.images.put(upload.id, upload, _loaded_bytes(upload.loaded))
        report = res.report.to_dict()
        report.update(input_path=upload.name, output_path=output_name(upload.name))
        labels = (res.labels, *res.more_labels)
        r = _Result(png, res.palette, labels, report)
        self.results.put(key, r, len(png) + sum(a.nbytes for a in labels) + res.palette.nbytes)
        return r


def _error_response(exc: Exception) -> Any:
    if isinstance(exc, HTTPError):
        return JSONResponse(exc.body(), status_code=exc.status)
    if isinstance(exc, ImageTooLargeError):
        return JSONResponse(HTTPError(413, str(exc)).body(), status_code=413)
    if isinstance(exc, ImageNotFoundError):
        return JSONResponse(HTTPError(400, str(exc)).body(), status_code=400)
    if isinstance(exc, UnsupportedImageError):
        return JSONResponse(HTTPError(415, str(exc)).body(), status_code=415)
    if isinstance(exc, MemoryError):
        return JSONResponse(HTTPError(507, "not enough memory for this image").body(), status_code=507)
    if isinstance(exc, (ValueError, TypeError)):
        return JSONResponse(HTTPError(400, str(exc)).body(), status_code=400)
    raise exc


def _handler(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Route wrapper: expected failures become a JSON one-liner with a 4xx status."""

    async def route(request: Request) -> Any:
        try:
            return await fn(request)
        except Stale:
            return JSONResponse({"stale": True}, status_code=409)
        except (HTTPError, UnsupportedImageError, MemoryError, ValueError, TypeError) as exc:
            return _error_response(exc)

    return route


def _web_dir() -> Path:
    return Path(str(resources.files("kmeans_compress") / "web"))


def create_app(
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB << 20,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    cache_bytes: int = DEFAULT_CACHE_MB << 20,
    result_cache_bytes: int = DEFAULT_RESULT_CACHE_MB << 20,
    slots: int | None = None,
) -> Any:
    """The Starlette app of the page; ``app.state.server`` holds its caches and job counters."""
    if _MISSING is not None:
        raise ImportError(f"the web page needs {_MISSING}: {INSTALL_HINT}")
    server = _Server(max_upload_bytes, max_pixels, cache_bytes, result_cache_bytes, slots or available_cores())

    async def job(fn: Callable[[], Any], client: str | None = None, seq: int | None = None) -> Any:
        server.jobs.announce(client, seq)
        return await anyio.to_thread.run_sync(lambda: server.jobs.run(fn, client, seq))

    async def index(request: Request) -> Any:
        return FileResponse(_web_dir() / "index.html", headers={"Cache-Control": "no-cache"})

    async def config(request: Request) -> Any:
        return JSONResponse(
            {
                "version": __version__,
                "max_upload_bytes": server.max_upload_bytes,
                "max_pixels": server.max_pixels,
                "slots": server.jobs.slots,
                "k_min": 2,
                "k_max": K_MAX,
                "spaces": list(SPACES),
            }
        )

    async def upload(request: Request) -> Any:
        name = _clean_name(request.query_params.get("name"))
        data = await server.read_body(request, name)
        up = await job(lambda: server.decode(data, name))
        loaded = up.loaded
        h, w = loaded.pixels.shape[:2]
        return JSONResponse(
            {
                "id": up.id,
                "name": up.name,
                "width": w,
                "height": h,
                "format": loaded.format,
                "input_bytes": loaded.file_bytes,
                "n_frames": 1 + len(loaded.more_frames),
                "browser_can_show": loaded.format in BROWSER_FORMATS,
                "notes": up.notes,
                "original_url": f"/api/images/{up.id}/original.png",
            }
        )

    async def original(request: Request) -> Any:
        up = server.upload(request.path_params["id"])
        png = await job(lambda: _png_of(up.loaded.rgba if up.loaded.alpha is not None else up.loaded.pixels))
        return Response(png, media_type="image/png")

    def answer(up: _Upload, options: Options, r: _Result, seconds: float) -> dict[str, Any]:
        counts = np.zeros(len(r.palette), np.int64)
        for labels in r.labels:
            counts += np.bincount(labels.ravel(), minlength=len(r.palette))[: len(r.palette)]
        total = max(1, int(counts.sum()))
        q = f"id={up.id}&{options.query()}"
        return {
            "id": up.id,
            "options": dataclasses.asdict(options),
            "report": r.report,
            "palette": ["#" + "".join(f"{int(c):02x}" for c in row) for row in r.palette],
            "shares": [round(int(c) / total, 6) for c in counts],
            "png_url": f"/api/result.png?{q}",
            "heat_url": f"/api/heatmap.png?{q}",
            "download_name": output_name(up.name),
            "command": command_line(up.name, options),
            "seconds": round(seconds, 4),
            "notes": up.notes,
        }

    async def compress_route(request: Request) -> Any:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise HTTPError(400, "the request body must be JSON") from None
        if not isinstance(body, dict):
            raise HTTPError(400, "the request body must be a JSON object")
        options = Options.parse(body)
        up = server.upload(str(body.get("id", "")))
        client = body.get("client")
        client = str(client) if client is not None else None
        seq = None if body.get("seq") is None else _integer(body, "seq", "seq", 0)
        if seq is not None and not 0 <= seq <= SEQ_MAX:
            raise HTTPError(400, f"seq: must be from 0 to {SEQ_MAX}, got {seq}")
        start = time.perf_counter()
        r = await job(lambda: server.result(up, options), client, seq)
        return JSONResponse(answer(up, options, r, time.perf_counter() - start))

    async def result_png(request: Request) -> Any:
        options = Options.parse(request.query_params)
        up = server.upload(request.query_params.get("id", ""))
        r = await job(lambda: server.result(up, options))
        name = output_name(up.name)
        return Response(
            r.png,
            media_type="image/png",
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(name)}",
                "Cache-Control": "no-store",
            },
        )

    async def heatmap(request: Request) -> Any:
        options = Options.parse(request.query_params)
        up = server.upload(request.query_params.get("id", ""))

        def draw() -> bytes:
            r = server.result(up, options)
            original = up.loaded.pixels if r.palette.shape[1] == 3 else up.loaded.rgba
            return error_heatmap(original, r.palette[r.labels[0]])

        return Response(await job(draw), media_type="image/png", headers={"Cache-Control": "no-store"})

    async def batch_new(request: Request) -> Any:
        options = Options.parse(request.query_params)
        folder = server.temp_folder() / f"batch-{uuid.uuid4().hex[:12]}"
        (folder / "images").mkdir(parents=True)
        # Keep the last few finished batches (their zips), remove older ones.
        finished = sorted(
            (b for b in server.batches.values() if b.state in ("done", "failed")), key=lambda b: b.created
        )
        for old in finished[:-3]:
            shutil.rmtree(old.folder, ignore_errors=True)
            server.batches.pop(old.id, None)
        b = _Batch(folder.name.removeprefix("batch-"), folder, options, max_pixels=server.max_pixels)
        server.batches[b.id] = b
        return JSONResponse(b.status())

    def batch_of(request: Request) -> _Batch:
        b = server.batches.get(request.path_params["id"])
        if b is None:
            raise HTTPError(404, f"batch {request.path_params['id']}: no such batch (finished long ago?)")
        return b

    async def batch_file(request: Request) -> Any:
        b = batch_of(request)
        if b.state != "uploading":
            raise HTTPError(409, f"batch {b.id}: already started")
        if len(b.names) >= MAX_BATCH_FILES:
            raise HTTPError(413, f"at most {MAX_BATCH_FILES} files in one batch")
        name = _clean_name(request.query_params.get("name"))
        data = await server.read_body(request, name)
        # Any content, an empty file too, is one more file of the batch: folder mode tries it and
        # reports it failed with its reason, as a file named on the command line, and the others go on.
        name = _unique(name, b.names)
        (b.folder / "images" / name).write_bytes(data)
        b.names.append(name)
        return JSONResponse(b.status())

    async def batch_start(request: Request) -> Any:
        b = batch_of(request)
        if b.state != "uploading":
            raise HTTPError(409, f"batch {b.id}: already started")
        if not b.names:
            raise HTTPError(400, "no image files in the batch")
        b.state = "running"

        def work() -> None:
            try:
                server.jobs.run(lambda: _run_batch(b))
            except BaseException as exc:  # pragma: no cover - reported, never raised in a thread
                b.errors.append(f"{PROG}: error: {message_of(exc)}")
                b.state = "failed"

        threading.Thread(target=work, name=f"batch-{b.id}", daemon=True).start()
        return JSONResponse(b.status())

    async def batch_status(request: Request) -> Any:
        return JSONResponse(batch_of(request).status())

    async def batch_zip(request: Request) -> Any:
        b = batch_of(request)
        if b.state != "done":
            raise HTTPError(409, f"batch {b.id}: not finished")
        stamp = f"kmeans-compress-k{b.options.n_colors}-{b.id[:6]}.zip"
        return FileResponse(b.folder / "result.zip", media_type="application/zip", filename=stamp)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        server.close()

    routes = [
        Route("/", index),
        Route("/api/config", config),
        Route("/api/images", _handler(upload), methods=["POST"]),
        Route("/api/images/{id}/original.png", _handler(original)),
        Route("/api/compress", _handler(compress_route), methods=["POST"]),
        Route("/api/result.png", _handler(result_png)),
        Route("/api/heatmap.png", _handler(heatmap)),
        Route("/api/batch", _handler(batch_new), methods=["POST"]),
        Route("/api/batch/{id}", _handler(batch_status)),
        Route("/api/batch/{id}/files", _handler(batch_file), methods=["POST"]),
        Route("/api/batch/{id}/start", _handler(batch_start), methods=["POST"]),
        Route("/api/batch/{id}/zip", _handler(batch_zip)),
        Mount("/static", StaticFiles(directory=str(_web_dir())), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={500: _internal_error})
    app.state.server = server
    return app


async def _internal_error(request: Any, exc: Exception) -> Any:
    # A bug, not bad input: one line to the page, the traceback only in the server's log.
    return JSONResponse({"error": f"{PROG}: error: internal error ({type(exc).__name__})"}, status_code=500)


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


# --------------------------------------------------------------------------- kmeans-compress serve


def _port(text: str) -> int:
    """``--port``: what bind() takes, 0 (a free port) to 65535."""
    v = parse_int(text)
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 (a free port) to 65535, got {v}")
    return v


#: The largest --max-upload-mb / --cache-mb: 2^63 bytes, so the byte count is a finite float and an int64.
MAX_MB = 1 << 43


def _megabytes(text: str) -> float:
    """``--max-upload-mb`` / ``--cache-mb``: a number > 0 (the server counts them in whole bytes)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < v <= MAX_MB:  # also refuses nan and inf, which int() of the bytes could not take
        raise argparse.ArgumentTypeError(f"must be a number > 0 and at most {MAX_MB:,} (8 EiB), got {text!r}")
    return v


def _parser() -> argparse.ArgumentParser:
    # The command line's parser class: a bad value is one line and exit 2, as for the other commands.
    p = Parser(
        prog=f"{PROG} serve",
        description="A local web page: drop images, move the K slider, compare, download. "
        f"Needs the web extra ({INSTALL_HINT}).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.add_argument(
        "--max-upload-mb",
        type=_megabytes,
        default=DEFAULT_MAX_UPLOAD_MB,
        metavar="MB",
        help=f"largest upload accepted (default {DEFAULT_MAX_UPLOAD_MB})",
    )
    p.add_argument(
        "--max-pixels",
        type=positive_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help=f"refuse images with more pixels (default {DEFAULT_MAX_PIXELS:,})",
    )
    p.add_argument(
        "--cache-mb",
        type=_megabytes,
        default=DEFAULT_CACHE_MB,
        metavar="MB",
        help=f"memory for decoded images kept for the slider (default {DEFAULT_CACHE_MB})",
    )
    p.add_argument(
        "-j",
        "--jobs",
        type=positive_int,  # as the main command's -j: 0 is refused, not taken for the default
        default=None,
        metavar="N",
        help="compressions at a time (default: the number of cores)",
    )
    return p


def main(argv: list[str]) -> int:
    """``kmeans-compress serve``; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except UsageError as exc:
        error(str(exc))
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if _MISSING is not None:
        error(f"serve needs the web extra ({_MISSING} is not installed): {INSTALL_HINT}")
        return EXIT_USAGE
    import uvicorn

    try:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
    except OSError as exc:
        print(f"{PROG}: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    app = create_app(
        max_upload_bytes=int(args.max_upload_mb * (1 << 20)),
        max_pixels=args.max_pixels,
        cache_bytes=int(args.cache_mb * (1 << 20)),
        slots=args.jobs,
    )
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    print(f"{PROG}: serving the page on {url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    if args.open:
        import webbrowser

        threading.Timer(0.5, webbrowser.open, (url,)).start()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        app.state.server.close()
        sock.close()
    return 0
