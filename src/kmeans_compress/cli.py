"""Command line: argument parsing, file naming and exit codes only.

Exit status (pngquant's 98 and 99 kept for the same meaning):

====  ==========================================================================
code  meaning
====  ==========================================================================
0     every file done
1     files failed for different reasons (each reported on its own line)
2     usage error: bad option or value (K out of range, not an integer, ...)
3     input missing, a folder, or not readable
4     input is not an image, empty, truncated or corrupt
5     input has more pixels than --max-pixels (decompression-bomb guard)
6     output exists (use --force), or would overwrite the input
7     output folder missing or output not writable
98    --skip-if-larger: the result was larger than the input, nothing written
99    --quality / --max-bytes target cannot be met
130   interrupted (Ctrl-C); no partial output is left
====  ==========================================================================
When every failing file failed the same way, that code is the exit status.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any, NoReturn, Sequence

from . import __version__, _kernels
from ._compress import compress, sample_image_path
from ._compress import TargetNotMetError, compress_to_quality, compress_to_size
from .colorspace import SPACES
from .io import (
    DEFAULT_MAX_PIXELS,
    OUTPUT_FORMATS,
    ImageNotFoundError,
    ImageTooLargeError,
    OutputExistsError,
    UnsupportedImageError,
    load_image,
    output_format,
)
from .quantize import MAX_PALETTE

PROG = "kmeans-compress"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_NO_INPUT, EXIT_NOT_IMAGE, EXIT_TOO_LARGE, EXIT_EXISTS, EXIT_CANT_WRITE = 3, 4, 5, 6, 7
EXIT_LARGER, EXIT_TARGET = 98, 99


class SkippedLarger(Exception):
    """--skip-if-larger: the result would be larger than the input."""


# Most specific first: ImageNotFoundError and ImageTooLargeError are UnsupportedImageErrors.
_EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (SkippedLarger, EXIT_LARGER),
    (TargetNotMetError, EXIT_TARGET),
    (ImageNotFoundError, EXIT_NO_INPUT),
    (ImageTooLargeError, EXIT_TOO_LARGE),
    (UnsupportedImageError, EXIT_NOT_IMAGE),
    (OutputExistsError, EXIT_EXISTS),
    (OSError, EXIT_CANT_WRITE),
)


def _exit_code(exc: BaseException) -> int:
    """The exit status for a file that failed with ``exc``."""
    return next((code for kind, code in _EXIT_CODES if isinstance(exc, kind)), EXIT_FAILED)


class UsageError(Exception):
    """Bad command line: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        raise UsageError(message)


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _int_at_least(minimum: int, note: str = "") -> Any:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        v = _parse_int(text)
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}{note}, got {v}")
        return v

    return parse


_seed = _int_at_least(0)
_positive_int = _int_at_least(1)
_frame = _int_at_least(0, " (frames count from 0)")


def _colors(text: str) -> int:
    k = _parse_int(text)
    if not 1 <= k <= MAX_PALETTE:
        raise argparse.ArgumentTypeError(
            f"must be from 1 to {MAX_PALETTE} for PNG output (a PNG palette holds at most "
            f"{MAX_PALETTE} colours), got {k}"
        )
    return k


def _ext(text: str) -> str:
    if Path(text).suffix.lower() not in OUTPUT_FORMATS or "/" in text or os.sep in text:
        raise argparse.ArgumentTypeError(
            f"must be a file-name suffix ending in {', '.join(OUTPUT_FORMATS)}, got {text!r}"
        )
    return text


def _quality(text: str) -> tuple[float, float]:
    lo, sep, hi = text.partition("-")
    try:
        if not sep:
            lo_v, hi_v = 0.0, float(text)
        else:
            lo_v = float(lo) if lo else 0.0
            hi_v = float(hi) if hi else float("inf")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX PSNR in dB, e.g. 30-40; got {text!r}") from None
    if not 0 <= lo_v <= hi_v or hi_v == float("inf") and not lo_v:
        raise argparse.ArgumentTypeError(f"expected 0 <= MIN <= MAX (PSNR in dB), got {text!r}")
    return lo_v, (hi_v if hi_v != float("inf") else lo_v)


def _add_main_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="image files (PNG, JPEG, WebP, GIF, TIFF, BMP); '-' reads stdin"
    )
    p.add_argument(
        "-k",
        "--colors",
        type=_colors,
        default=None,
        metavar="K",
        help="palette size, 1-256 (default 16; with --quality or --max-bytes, the largest size tried, default 256)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="output file, or an existing folder; '-' writes the PNG to stdout (one input only). "
        "Default: beside the input, with the suffix of --ext",
    )
    p.add_argument("--ext", type=_ext, default=".kmc.png", help="suffix of output files (default .kmc.png)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing output files")
    p.add_argument("--seed", type=_seed, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--json", action="store_true", help="print the reports as JSON on stdout")
    p.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")


def _add_fidelity_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("quality, formats and inputs")
    target = g.add_mutually_exclusive_group()
    target.add_argument(
        "--quality",
        type=_quality,
        metavar="MIN-MAX",
        help="PSNR in dB: the smallest palette reaching MAX; exit 99 if even the largest misses MIN",
    )
    target.add_argument("--max-bytes", type=_positive_int, metavar="N", help="the largest palette whose file fits in N bytes")
    g.add_argument("--space", choices=SPACES, default="rgb", help="colour space of the clustering (default rgb)")
    fs = g.add_mutually_exclusive_group()
    fs.add_argument("--dither", action="store_true", help="Floyd-Steinberg dithering with the K-means palette")
    fs.add_argument("--nofs", dest="dither", action="store_false", help="no dithering (the default)")
    g.add_argument("--strip", action="store_true", help="write no metadata (no ICC colour profile)")
    g.add_argument(
        "--skip-if-larger",
        action="store_true",
        help="write nothing when the result is larger than the input file (exit 98)",
    )
    g.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help=f"refuse inputs with more pixels (decompression-bomb guard; default {DEFAULT_MAX_PIXELS:,})",
    )
    g.add_argument("--frame", type=_frame, metavar="N", help="frame or page of a multi-frame input (from 0)")


# Each feature adds its options through one function in this list.
OPTION_GROUPS = [_add_main_options, _add_fidelity_options]


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def _report_path(text: str) -> str:
    if Path(text).suffix.lower() not in (".csv", ".json"):
        raise argparse.ArgumentTypeError(f"must end in .csv or .json, got {text!r}")
    return text


def _add_batch_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "folders and batches",
        "An INPUT may be a folder: its images are compressed into -o OUTDIR (created if missing), "
        "keeping the tree. Files whose output is up to date (same input, same options) are skipped, "
        "so an interrupted run resumes where it stopped.",
    )
    g.add_argument("-r", "--recursive", action="store_true", help="walk sub-folders of folder inputs")
    g.add_argument("-j", "--jobs", type=_jobs, metavar="N", help="worker processes (default: number of cores)")
    g.add_argument("--report", type=_report_path, metavar="FILE", help="write one row per file to FILE (.csv or .json)")
    g.add_argument("--shared-palette", action="store_true", help="one palette for all the inputs (merged colour histograms)")
    g.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on a dask.distributed scheduler at ADDRESS (e.g. tcp://host:8786), or 'local' "
        "for a local cluster of --jobs workers; the workers must see the same paths",
    )


OPTION_GROUPS.append(_add_batch_options)


def _batch_mode(args: argparse.Namespace) -> bool:
    """Folder inputs or any batch option hand the run over to :mod:`kmeans_compress.batch`."""
    batch_opts = (args.recursive, args.jobs is not None, args.report, args.shared_palette, args.dask)
    return any(batch_opts) or any(os.path.isdir(i) for i in args.inputs)


def _run_batch(args: argparse.Namespace) -> int:
    from . import batch

    if args.output == "-":
        raise UsageError("-o - (stdout) takes one input file, not a folder or a batch")
    if getattr(args, "preview", None) is not None:
        raise UsageError("--preview takes one input file, not a folder or a batch")
    unsupported = [name for name, on in (("--quality", args.quality is not None),
                                         ("--max-bytes", args.max_bytes is not None)) if on]
    if unsupported:
        raise UsageError(f"{unsupported[0]} is not available with folders or batch options yet")
    if Path(args.ext).suffix.lower() != ".png":
        raise UsageError(f"--ext {args.ext}: folders and batches write PNG; the suffix must end in .png")
    options = {
        "n_colors": 16 if args.colors is None else args.colors, "random_state": args.seed,
        "space": args.space, "dither": args.dither, "max_pixels": args.max_pixels, "frame": args.frame,
    }
    try:
        summary = batch.run(
            args.inputs, args.output, options=options, ext=args.ext, recursive=args.recursive,
            force=args.force, jobs=args.jobs, shared=args.shared_palette, report=args.report,
            dask=args.dask, progress=None if not args.quiet else False, prog=PROG, strip=args.strip,
            skip_if_larger=args.skip_if_larger,
        )
    except batch.NoInputError as exc:  # like a missing input (exit 3)
        _error(str(exc))
        return EXIT_NO_INPUT
    except batch.BatchUsageError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        json.dump([r.to_dict() for r in summary.rows], sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    if summary.interrupted:
        _error("interrupted; run the same command again to resume")
        return EXIT_INTERRUPTED
    if not args.quiet or summary.failed:
        print(f"{PROG}: {summary.line()}", file=sys.stderr)
    if summary.failed:
        return EXIT_FAILED
    return EXIT_LARGER if summary.larger else EXIT_OK


# --------------------------------------------------------------------------- figures (--preview, demo, sweep)

PREVIEW_SUFFIX = ".comparison.png"


def _png_path(text: str) -> str:
    if Path(text).suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"figures are written as PNG; the file name must end in .png, got {text!r}")
    return text


def _add_plot_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preview",
        type=_png_path,
        metavar="OUT.png",
        help="also write a figure of the original and the compressed image side by side, with the palette "
        "and the sizes (one input only; needs matplotlib: pip install 'kmeans-compress[plot]')",
    )
    p.epilog = (p.epilog or "") + (
        f" '{PROG} sweep [INPUT]' prints K against PNG bytes and PSNR (see '{PROG} sweep --help')."
    )


OPTION_GROUPS.append(_add_plot_options)


def _plan_preview(args: argparse.Namespace, demo: bool, jobs: list[tuple[str, str, str | None]]) -> None:
    """Check --preview before any work; for ``demo``, choose the figure's path when matplotlib is there."""
    from .plots import INSTALL_HINT, matplotlib_available

    if demo and args.preview is None:
        if jobs[0][1] == "-":
            return
        if not matplotlib_available():
            if not args.quiet:
                print(f"{PROG}: note: no comparison figure; {INSTALL_HINT}", file=sys.stderr)
            return
        args.preview = str(Path(jobs[0][1]).parent / (Path(jobs[0][0]).stem + PREVIEW_SUFFIX))
    if args.preview is None:
        return
    if len(jobs) != 1:
        raise UsageError("--preview takes exactly one input")
    if not matplotlib_available():
        raise UsageError(f"--preview: {INSTALL_HINT}")
    if jobs[0][1] != "-" and os.path.abspath(jobs[0][1]) == os.path.abspath(args.preview):
        raise UsageError(f"--preview {args.preview}: is also the compressed output; choose another name")


def _check_preview(args: argparse.Namespace) -> None:
    preview = getattr(args, "preview", None)
    if preview is not None and not args.force and os.path.lexists(preview):
        raise OutputExistsError(f"{preview}: already exists (use --force to overwrite)")


def _write_preview(result: Any, args: argparse.Namespace) -> None:
    """Draw the side-by-side figure of ``result`` into ``args.preview``, atomically."""
    preview = getattr(args, "preview", None)
    if preview is None:
        return
    from .plots import _pyplot, plot_comparison, save_figure

    fig = plot_comparison(result)
    try:
        target = save_figure(fig, preview, overwrite=args.force)
    finally:
        _pyplot().close(fig)
    if not args.quiet and not args.json:
        print(f"  comparison figure -> {target}", file=sys.stderr)


def _ks(text: str) -> list[int]:
    ks = []
    for part in text.split(","):
        try:
            ks.append(_colors(part.strip()))
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} in {text!r}: {exc}") from None
    return ks


def _sweep_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=f"{PROG} sweep",
        description="Compress one image at several palette sizes and print K against the real PNG "
        "bytes and the quality (PSNR). Nothing is written but the optional figure.",
    )
    p.add_argument("input", nargs="?", metavar="INPUT", help="image file (default: the embedded sample photo)")
    p.add_argument("--ks", type=_ks, default=None, metavar="K,K,...",
                   help="palette sizes, comma-separated, each 1-256 (default 2,4,8,16,32,64,128,256)")
    p.add_argument("--plot", type=_png_path, metavar="OUT.png",
                   help="also draw the rate-distortion figure into OUT.png (needs matplotlib)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing --plot file")
    p.add_argument("--seed", type=_seed, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but the table and errors")
    p.add_argument("--json", action="store_true", help="print the reports as JSON instead of the table")
    return p


def _format_sweep(results: list[Any]) -> str:
    lines = [f"{'K':>5} {'colours':>8} {'bytes':>10} {'bits/px':>8} {'tutorial bytes':>15} {'MSE':>9} {'PSNR dB':>8}"]
    for r in results:
        rep = r.report
        quality = "inf" if rep.psnr == float("inf") else f"{rep.psnr:.2f}"
        lines.append(
            f"{rep.n_colors:>5} {rep.n_colors_used:>8} {rep.output_bytes:>10,} {rep.bits_per_pixel:>8.3f} "
            f"{-(-rep.compressed_bits // 8):>15,} {rep.mse:>9.2f} {quality:>8}"
        )
    return "\n".join(lines)


def _sweep_main(argv: list[str]) -> int:
    """``kmeans-compress sweep``: the rate-distortion table (and figure) of one image."""
    from ._sweep import DEFAULT_KS, sweep
    from .plots import INSTALL_HINT, matplotlib_available

    try:
        args = _sweep_parser().parse_args(argv)
        _announce_compiling(args.quiet)
        if args.plot is not None and not matplotlib_available():
            raise UsageError(f"--plot: {INSTALL_HINT}")
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    src = args.input if args.input is not None else str(sample_image_path())
    try:
        if args.plot is not None and not args.force and os.path.lexists(args.plot):
            raise OutputExistsError(f"{args.plot}: already exists (use --force to overwrite)")
        results = sweep(src, DEFAULT_KS if args.ks is None else args.ks, random_state=args.seed)
        if args.json:
            json.dump([r.report.to_dict() for r in results], sys.stdout, indent=2, allow_nan=False, default=str)
            sys.stdout.write("\n")
        else:
            if not args.quiet:
                rep = results[0].report
                name = args.input if args.input is not None else "chelsea.png (embedded sample)"
                print(f"{name}: {rep.width}x{rep.height}, {rep.n_distinct_input:,} distinct colours, "
                      f"24-bit RGB {rep.original_bits // 8:,} bytes", file=sys.stderr)
            print(_format_sweep(results))
            sys.stdout.flush()
        if args.plot is not None:
            from .plots import _pyplot, plot_rate_distortion, save_figure

            fig = plot_rate_distortion(results, random_state=args.seed)
            try:
                target = save_figure(fig, args.plot, overwrite=args.force)
            finally:
                _pyplot().close(fig)
            if not args.quiet:
                print(f"rate-distortion figure -> {target}", file=sys.stderr)
    except (UnsupportedImageError, OutputExistsError) as exc:
        _error(str(exc))
        return EXIT_FAILED
    except (OSError, ValueError, TypeError, MemoryError) as exc:
        _error(f"{src}: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Compress images by K-means colour quantization into indexed PNG files.",
        epilog=f"'{PROG} demo' compresses the embedded sample photo into the current folder "
        "(or -o). A file named 'demo' can be given as ./demo.",
    )
    for add in OPTION_GROUPS:
        add(p)
    return p


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _plan_outputs(inputs: list[str], output: str | None, ext: str) -> list[str]:
    """Output path of every input, or raise UsageError."""
    def beside(src: str, folder: Path | None) -> str:
        p = Path(src)
        return str((folder if folder is not None else p.parent) / (p.stem + ext))

    if inputs.count("-") > 1:
        raise UsageError("'-' (stdin) can be given only once")
    if output is None:
        return ["-" if s == "-" else beside(s, None) for s in inputs]
    if output == "-":
        if len(inputs) != 1:
            raise UsageError("-o - (stdout) takes exactly one input")
        return ["-"]
    out = Path(output)
    if out.is_dir():
        if "-" in inputs:
            raise UsageError("stdin ('-') needs -o FILE or -o -, not a folder")
        return [beside(s, out) for s in inputs]
    if len(inputs) > 1:
        raise UsageError(f"-o {output}: with several inputs, -o must be an existing folder")
    if out.suffix.lower() not in OUTPUT_FORMATS:
        raise UsageError(
            f"-o {output}: the output must end in {', '.join(OUTPUT_FORMATS)} (or be an existing folder)"
        )
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise OutputFolderError(f"-o {output}: the folder {out.parent} does not exist")
    return [output]


class OutputFolderError(UsageError):
    """The output folder does not exist (exit 7)."""


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _run_one(src: str, dst: str, args: argparse.Namespace, display_name: str | None = None) -> dict[str, Any]:
    if dst != "-" and not args.force:
        if _same_file(src, dst):
            raise OutputExistsError(f"{dst}: is the input file itself (use --force to overwrite it)")
        if os.path.lexists(dst):
            raise OutputExistsError(f"{dst}: already exists (use --force to overwrite)")
    _check_preview(args)
    options = dict(random_state=args.seed, space=args.space, dither=args.dither)
    load = dict(max_pixels=args.max_pixels, frame=args.frame)
    fmt = "PNG" if dst == "-" else output_format(dst)
    source: Any = load_image(sys.stdin.buffer.read(), name="<stdin>", **load) if src == "-" else src
    if args.quality is not None:
        result = compress_to_quality(source, *args.quality, max_colors=args.colors, **load, **options)
    elif args.max_bytes is not None:
        result = compress_to_size(source, args.max_bytes, fmt=fmt, strip=args.strip, max_colors=args.colors, **load, **options)
    else:
        result = compress(source, n_colors=args.colors, **load, **options)
    if args.skip_if_larger and result.report.input_bytes:
        size = len(result.encode(fmt, strip=args.strip))
        if size >= result.report.input_bytes:
            raise SkippedLarger(
                f"{src}: the result ({size:,} bytes) is not smaller than the input "
                f"({result.report.input_bytes:,} bytes); nothing written (--skip-if-larger)"
            )
    if dst == "-":
        data = result.to_png_bytes(strip=args.strip)
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        result.report = dataclasses.replace(result.report, output_bytes=len(data), output_path="-")
    else:
        result.save(dst, overwrite=args.force, strip=args.strip)
    report = result.report
    if display_name is not None:
        report = dataclasses.replace(report, input_path=display_name)
    if not args.quiet and not args.json:
        print(report.format(), file=sys.stderr)
    _write_preview(result, args)
    return report.to_dict()


def _note_compiling() -> None:
    print(f"{PROG}: note: compiling the fast kernels for this machine, once (about half a minute); "
          "later runs load them in about a second", file=sys.stderr, flush=True)


def _announce_compiling(quiet: bool) -> None:
    """Say so when a run has to compile the kernels (the first one on a new install), unless quiet."""
    _kernels.slow_load_notice = None if quiet else _note_compiling


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "sweep":
        return _sweep_main(argv[1:])
    if argv and argv[0] == "serve":  # the local web page (kmeans_compress/_web.py, the [web] extra)
        from ._web import main as serve_main

        return serve_main(argv[1:])
    try:
        demo = bool(argv) and argv[0] == "demo"
        args = build_parser().parse_args(["demo"] + argv[1:] if demo else argv)
        _announce_compiling(args.quiet)
        if demo:
            if args.inputs != ["demo"]:
                raise UsageError("'demo' takes no input files")
            sample = str(sample_image_path())
            folder = args.output if args.output is not None else "."
            if folder != "-" and not Path(folder).suffix and not Path(folder).is_dir():
                raise UsageError(f"-o {folder}: the folder does not exist")
            jobs = [(sample, _plan_outputs([sample], folder, args.ext)[0], "chelsea.png (embedded sample)")]
        elif _batch_mode(args):
            return _run_batch(args)
        else:
            outputs = _plan_outputs(args.inputs, args.output, args.ext)
            jobs = [(s, d, None) for s, d in zip(args.inputs, outputs)]
        _plan_preview(args, demo, jobs)
        if jobs[0][1] == "-":
            if args.json:
                raise UsageError("--json and -o - both write to stdout; choose one")
            if sys.stdout.isatty():
                raise UsageError("refusing to write PNG data to a terminal; redirect stdout or use -o FILE")
        if args.colors is None:
            args.colors = MAX_PALETTE if (args.quality is not None or args.max_bytes is not None) else 16
    except UsageError as exc:
        _error(str(exc))
        return EXIT_CANT_WRITE if isinstance(exc, OutputFolderError) else EXIT_USAGE

    records: list[dict[str, Any]] = []
    failed = 0
    codes: set[int] = set()
    try:
        for src, dst, name in jobs:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        records.append(_run_one(src, dst, args, name))
                    finally:
                        for w in caught:
                            if not args.quiet:
                                print(f"{PROG}: warning: {w.message}", file=sys.stderr)
            except (UnsupportedImageError, OutputExistsError, OSError, ValueError, TypeError, MemoryError, SkippedLarger) as exc:
                failed += 1
                codes.add(_exit_code(exc))
                own = (UnsupportedImageError, OutputExistsError, SkippedLarger, TargetNotMetError)
                msg = str(exc) if isinstance(exc, own) else f"{src}: {exc}"
                if isinstance(exc, SkippedLarger):
                    if not args.quiet:
                        print(f"{PROG}: {msg}", file=sys.stderr)
                else:
                    _error(msg)
                records.append({"input_path": src, "status": "skipped" if isinstance(exc, SkippedLarger) else "error", "error": msg})
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    if args.json:
        json.dump(records, sys.stdout, indent=2, allow_nan=False, default=str)
        sys.stdout.write("\n")
    if failed and len(jobs) > 1 and not args.quiet:
        print(f"{PROG}: {failed} of {len(jobs)} files failed or were skipped", file=sys.stderr)
    if not failed:
        return EXIT_OK
    return codes.pop() if len(codes) == 1 else EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
