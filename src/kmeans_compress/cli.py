"""Command line: argument parsing, file naming and exit codes only.

Exit status (pngquant's 98 and 99 kept for the same meaning):

====  ==========================================================================
code  meaning
====  ==========================================================================
0     every file done
1     files failed for different reasons (each reported on its own line)
2     usage error: bad option or value (K out of range, not an integer, ...), or one
      the input does not allow (--dither with transparency, .gif with partial alpha)
3     input missing, a folder, or not readable
4     input is not an image, empty, truncated or corrupt
5     input has more pixels than --max-pixels (decompression-bomb guard)
6     output exists (use --force), or would overwrite the input
7     output folder missing or output not writable (stdout too: closed, or a pipe closed early)
98    --skip-if-larger: the result was not smaller than the input, nothing written
99    --quality / --psnr / --max-bytes target cannot be met
130   interrupted (Ctrl-C); no partial output is left
====  ==========================================================================
When every failing file failed the same way, that code is the exit status.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__, _cli_pngquant, _cli_sweep
from ._cli_common import (
    EXIT_CANT_WRITE,
    EXIT_EXISTS,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_LARGER,
    EXIT_NO_INPUT,
    EXIT_OK,
    PROG,
    STDOUT_CLOSED,
    CantWriteError,
    OutputFolderError,
    Parser,
    SkippedLarger,
    UsageError,
    announce_compiling,
    check_figure_folder,
    colors,
    dither_argv,
    dither_strength,
    effort,
    error,
    exit_code,
    frame_number,
    keep_colors,
    max_pixels_option,
    png_path,
    positive_int,
    psnr_range,
    quality,
    report_path,
    seed,
    speed,
    standard_streams,
    suffix,
    usage_failed,
    write_all,
    write_json,
)
from ._colorspace import SPACES
from ._compress import palette_of_image
from ._decode import LoadedImage, load_image, sample_image_path
from ._encode import DEFAULT_EFFORT, MAX_EFFORT, OUTPUT_FORMATS
from ._exceptions import (
    BatchUsageError,
    ImageNotFoundError,
    NoInputError,
    OutputExistsError,
    TargetNotMetError,
    UnsupportedImageError,
    message_of,
    warning_text,
)
from ._files import FileOptions, OutputClaims, compress_file, refuse_input
from ._remap import DEFAULT_DITHER
from ._validation import MAX_PALETTE


def _add_main_options(p: argparse.ArgumentParser, inputs: bool = True) -> None:
    if inputs:
        p.add_argument(
            "inputs", nargs="+", metavar="INPUT", help="image files (PNG, JPEG, WebP, GIF, TIFF, BMP); '-' reads stdin"
        )
    p.add_argument(
        "-k",
        "--colors",
        type=colors,
        default=None,
        metavar="K",
        help="palette size, 1-256 (default 16; with --quality, --psnr or --max-bytes, the largest size tried, "
        "default 256)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="output file, or an existing folder; '-' writes the PNG to stdout (one input only). "
        "Default: beside the input, with the suffix of --ext",
    )
    p.add_argument("--ext", type=suffix, default=".kmc.png", help="suffix of output files (default .kmc.png)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing output files")
    p.add_argument("--seed", type=seed, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--json", action="store_true", help="print the reports as JSON on stdout")
    p.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")


def _add_fidelity_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("quality, formats and inputs")
    target = g.add_mutually_exclusive_group()
    target.add_argument(
        "--quality",
        type=quality,
        metavar="MIN-MAX",
        help="pngquant's scale, 0-100: the smallest palette reaching MAX; exit 99 if even the largest misses MIN "
        "(changed in 0.2.0: PSNR in dB is --psnr)",
    )
    target.add_argument(
        "--psnr",
        type=psnr_range,
        metavar="MIN-MAX",
        help="PSNR in dB: the smallest palette reaching MAX; exit 99 if even the largest misses MIN",
    )
    target.add_argument(
        "--max-bytes",
        type=positive_int,
        metavar="N",
        help="the largest palette whose file fits in N bytes (checked up to 4 sizes above it)",
    )
    g.add_argument(
        "--speed",
        type=speed,
        default=1,
        metavar="N",
        help="1 (slow, best: the default) to 11 (fast, rough): fewer starts and iterations as N grows",
    )
    g.add_argument("--space", choices=SPACES, default="rgb", help="colour space of the clustering (default rgb)")
    fs = g.add_mutually_exclusive_group()
    fs.add_argument(
        "--dither",
        type=dither_strength,
        default=False,
        metavar="[S]",
        help="error diffusion with the K-means palette, at strength S from 0 to 1 (--dither alone: "
        f"{DEFAULT_DITHER}); serpentine, in --space, and only where it helps: at the bands of smooth gradients, "
        "not in flat areas or along sharp edges",
    )
    fs.add_argument("--nofs", dest="dither", action="store_const", const=False, help="no dithering (the default)")
    pal = g.add_mutually_exclusive_group()
    pal.add_argument(
        "--map",
        metavar="PALETTE.png",
        help="use the colours of this image (at most 256) as the palette: no clustering; every output "
        "holds them all, in the same order",
    )
    pal.add_argument(
        "--keep",
        type=keep_colors,
        metavar="'#RRGGBB,...'",
        help="entries the palette keeps whatever the image; the others are clustered around them",
    )
    g.add_argument("--strip", action="store_true", help="write no metadata (no ICC colour profile)")
    g.add_argument(
        "--effort",
        type=effort,
        default=DEFAULT_EFFORT,
        metavar="N",
        help=f"lossless PNG pass (oxipng), 0-{MAX_EFFORT}: 0 none, 1-6 oxipng's levels, {MAX_EFFORT} zopfli "
        f"(slow); the same pixels in fewer bytes (default {DEFAULT_EFFORT})",
    )
    g.add_argument(
        "--skip-if-larger",
        action="store_true",
        help="write nothing when the result is not smaller than the input file (exit 98)",
    )
    max_pixels_option(g)
    g.add_argument("--frame", type=frame_number, metavar="N", help="frame or page of a multi-frame input (from 0)")


def _add_batch_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "folders and batches",
        "An INPUT may be a folder: its images are compressed into -o OUTDIR (created if missing), "
        "keeping the tree. Files whose output is up to date (same input, same options) are skipped, "
        "so an interrupted run resumes where it stopped.",
    )
    g.add_argument("-r", "--recursive", action="store_true", help="walk sub-folders of folder inputs")
    g.add_argument("-j", "--jobs", type=positive_int, metavar="N", help="worker processes (default: number of cores)")
    g.add_argument("--report", type=report_path, metavar="FILE", help="write one row per file to FILE (.csv or .json)")
    g.add_argument(
        "--shared-palette", action="store_true", help="one palette for all the inputs (merged colour histograms)"
    )
    g.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on a dask.distributed scheduler at ADDRESS (e.g. tcp://host:8786), or 'local' "
        "for a local cluster of --jobs workers; the workers must see the same paths",
    )


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
    if not args.ext.lower().endswith(".png"):
        raise UsageError(f"--ext {args.ext}: folders and batches write PNG; the suffix must end in .png")
    _palette_size(args)
    # The rows of a batch report show no SSIM: do not measure it.
    options = dataclasses.replace(_file_options(args), with_ssim=False)
    try:
        summary = batch.run(
            args.inputs,
            args.output,
            options=options,
            ext=args.ext,
            recursive=args.recursive,
            jobs=args.jobs,
            shared=args.shared_palette,
            report=args.report,
            dask=args.dask,
            progress=None if not args.quiet else False,
            prog=PROG,
            quiet=args.quiet,
        )
    except NoInputError as exc:  # like a missing input (exit 3)
        error(str(exc))
        return EXIT_NO_INPUT
    except OutputExistsError as exc:  # --report over an input, or over someone else's file (exit 6)
        error(str(exc))
        return EXIT_EXISTS
    except BatchUsageError as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:  # before any file was started (the walk, a local cluster's start): nothing written
        error("interrupted; run the same command again to resume")
        return EXIT_INTERRUPTED
    except OSError as exc:  # a folder not writable (checked first), the --report file (written last); not a file's
        # own errors, which are their rows
        error(message_of(exc))
        return EXIT_CANT_WRITE
    printed = not args.json or write_json([r.to_dict() for r in summary.rows])
    if summary.interrupted:
        error("interrupted; run the same command again to resume")
        return EXIT_INTERRUPTED
    if not args.quiet or summary.failed:
        print(f"{PROG}: {summary.line()}", file=sys.stderr)
    if summary.failed:
        return EXIT_FAILED
    if not printed:
        return EXIT_CANT_WRITE
    return EXIT_LARGER if summary.larger else EXIT_OK


# --------------------------------------------------------------------------- figures (--preview, demo, sweep)

PREVIEW_SUFFIX = ".comparison.png"


def _add_plot_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preview",
        type=png_path,
        metavar="OUT.png",
        help="also write a figure of the original and the compressed image side by side, with the palette "
        "and the sizes (one input only; needs matplotlib: pip install 'kmeans-compress[plot]')",
    )
    p.epilog = (p.epilog or "") + (
        f" '{PROG} sweep [INPUT]' prints K against PNG bytes and PSNR (see '{PROG} sweep --help')."
    )


#: One file of a run: (input or '-', output or '-', name shown in the report or None).
Job = tuple[str, str, str | None]


def _plan_preview(args: argparse.Namespace, demo: bool, jobs: Sequence[Job]) -> None:
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
    check_figure_folder(args.preview, "--preview")
    if jobs[0][1] != "-" and os.path.abspath(jobs[0][1]) == os.path.abspath(args.preview):
        raise UsageError(f"--preview {args.preview}: is also the compressed output; choose another name")


def _check_preview(args: argparse.Namespace, src: str) -> None:
    """The figure obeys the outputs' rules (not over an existing file without --force) and is never the input."""
    preview = getattr(args, "preview", None)
    if preview is None:
        return
    refuse_input(preview, [src], "--preview")
    if not args.force and os.path.lexists(preview):
        raise OutputExistsError(f"{preview}: already exists (use --force to overwrite)")


def _write_preview(result: Any, args: argparse.Namespace) -> None:
    """Draw the side-by-side figure of ``result`` into ``args.preview``, atomically."""
    preview = getattr(args, "preview", None)
    if preview is None:
        return
    from .plots import plot_comparison, save_figure

    target = save_figure(plot_comparison(result), preview, overwrite=args.force, close=True)
    if not args.quiet and not args.json:
        print(f"  comparison figure -> {target}", file=sys.stderr)


def build_parser(demo: bool = False) -> Parser:
    """The parser of ``kmeans-compress INPUT...``, or of ``kmeans-compress demo`` (no inputs, no batch options)."""
    if demo:
        p = Parser(
            prog=f"{PROG} demo",
            description="Compress the embedded sample photo (chelsea.png) "
            "into the current folder or -o, with a comparison figure when matplotlib is installed.",
        )
    else:
        p = Parser(
            prog=PROG,
            description="Compress images by K-means colour quantization into indexed PNG files.",
            epilog=f"'{PROG} demo' compresses the embedded sample photo into the current folder "
            "(or -o). A file named 'demo' can be given as ./demo.",
        )
    _add_main_options(p, inputs=not demo)
    _add_fidelity_options(p)
    if not demo:
        _add_batch_options(p)
    _add_plot_options(p)
    return p


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
    if output.endswith(("/", os.sep)) and not out.is_dir():  # a folder by its spelling, not there
        raise OutputFolderError(f"-o {output}: the folder does not exist")
    if out.is_dir():
        if "-" in inputs:
            raise UsageError("stdin ('-') needs -o FILE or -o -, not a folder")
        return [beside(s, out) for s in inputs]
    if len(inputs) > 1:
        raise UsageError(f"-o {output}: with several inputs, -o must be an existing folder")
    if out.suffix.lower() not in OUTPUT_FORMATS:
        raise UsageError(f"-o {output}: the output must end in {', '.join(OUTPUT_FORMATS)} (or be an existing folder)")
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise OutputFolderError(f"-o {output}: the folder {out.parent} does not exist")
    return [output]


def _map_palette(args: argparse.Namespace) -> Any:
    """The colours of ``--map PALETTE.png`` (read once per run), or None."""
    if args.map is None:
        return None
    if getattr(args, "map_palette", None) is None:
        try:
            args.map_palette = palette_of_image(args.map)
        except (UnsupportedImageError, ValueError, OSError) as exc:
            raise UsageError(f"--map {args.map}: {exc}") from None
    return args.map_palette


def _check_map(args: argparse.Namespace) -> None:
    """``--map``'s usage errors, before any work: it gives the palette and so its size, which neither
    ``-k`` (None here unless given: an explicit one is refused, not dropped unsaid) nor a size target
    may choose; and its file must give a palette."""
    if args.map is None:
        return
    if _size_target(args):
        raise UsageError(f"--map gives every file the same palette; {_size_target(args)} sizes each file's own")
    if args.colors is not None:
        raise UsageError(f"--map gives the palette, and its size: drop -k {args.colors}")
    _map_palette(args)


def _file_options(args: argparse.Namespace) -> FileOptions:
    """The options of one file, as the command line gives them."""
    return FileOptions(
        n_colors=args.colors,
        random_state=args.seed,
        space=args.space,
        dither=args.dither,
        fixed_colors=args.keep,
        palette=_map_palette(args),
        max_pixels=args.max_pixels,
        frame=args.frame,
        quality=args.quality,
        psnr=args.psnr,
        max_bytes=args.max_bytes,
        speed=args.speed,
        strip=args.strip,
        effort=args.effort,
        force=args.force,
        skip_if_larger=args.skip_if_larger,
        with_ssim=args.json or not args.quiet,  # the report is read: measure SSIM for it
        keep_original=getattr(args, "preview", None) is not None,  # only the comparison figure draws it
    )


def _run_one(src: str, dst: str, args: argparse.Namespace, display_name: str | None = None) -> dict[str, Any]:
    """Compress one input (a path, or '-' for stdin) into ``dst`` (a path, or '-' for stdout)."""
    _check_preview(args, src)
    opts = _file_options(args)
    source: str | LoadedImage = src
    if src == "-":
        if sys.stdin is None:  # fd 0 closed (<&-)
            raise ImageNotFoundError("<stdin>: stdin is closed, there is no image to read")
        source = load_image(sys.stdin.buffer.read(), name="<stdin>", max_pixels=args.max_pixels, frame=args.frame)
    outcome = compress_file(source, None if dst == "-" else dst, opts)
    if outcome.status == "larger":
        raise SkippedLarger(outcome.message)
    result = outcome.result
    assert result is not None  # no resume here, so never "skipped"
    if dst == "-":
        assert outcome.data is not None
        write_all(outcome.data)
        result.report = dataclasses.replace(result.report, output_bytes=len(outcome.data), output_path="-")
    report = result.report
    if display_name is not None:
        report = dataclasses.replace(report, input_path=display_name)
    if not args.quiet and not args.json:
        print(report.format(), file=sys.stderr)
    _write_preview(result, args)
    return report.to_dict()


def _cmd_compress(argv: list[str]) -> int:
    """``kmeans-compress INPUT...``: files one by one, or folders and batches (:mod:`kmeans_compress.batch`)."""
    try:
        parser = build_parser()
        args = parser.parse_args(dither_argv(argv, parser.long_options()))
        _check_map(args)
        announce_compiling(args.quiet)
        if _batch_mode(args):
            return _run_batch(args)
        outputs = _plan_outputs(args.inputs, args.output, args.ext)
        jobs = [(s, d, None) for s, d in zip(args.inputs, outputs)]
        _check_single(args, jobs, demo=False)
        claims = OutputClaims(args.inputs)  # folder mode's check: two inputs never write one file
        for src, dst in zip(args.inputs, outputs):
            clash = None if dst == "-" else claims.claim(src, dst)
            if clash is not None:
                raise UsageError(f"{clash}; compress them one at a time, each with its own -o")
        for src, dst in zip(args.inputs, outputs):  # nor one input's output over another input
            clash = None if dst == "-" else claims.other_input(src, dst)
            if clash is not None:
                error(clash)
                return EXIT_EXISTS
    except UsageError as exc:
        return usage_failed(exc)
    return _compress_files(args, jobs)


def _cmd_demo(argv: list[str]) -> int:
    """``kmeans-compress demo``: the embedded sample photo into the current folder (or -o), with its figure."""
    try:
        parser = build_parser(demo=True)
        args = parser.parse_args(dither_argv(argv, parser.long_options()))
        _check_map(args)
        announce_compiling(args.quiet)
        sample = str(sample_image_path())
        folder = args.output if args.output is not None else "."
        if folder != "-" and not Path(folder).suffix and not os.path.lexists(folder):  # an existing file: -o's rules
            raise OutputFolderError(f"-o {folder}: the folder does not exist")
        jobs = [(sample, _plan_outputs([sample], folder, args.ext)[0], "chelsea.png (embedded sample)")]
        _check_single(args, jobs, demo=True)
    except UsageError as exc:
        return usage_failed(exc)
    return _compress_files(args, jobs)


def _check_single(args: argparse.Namespace, jobs: Sequence[Job], demo: bool) -> None:
    """The checks of a file-by-file run that need no work done yet; fills in the palette size."""
    _plan_preview(args, demo, jobs)
    if jobs[0][1] == "-":
        if args.json:
            raise UsageError("--json and -o - both write to stdout; choose one")
        if sys.stdout is None:  # fd 1 closed (>&-)
            raise CantWriteError(f"-o -: {STDOUT_CLOSED}")
        if sys.stdout.isatty():
            raise UsageError("refusing to write PNG data to a terminal; redirect stdout or use -o FILE")
    _palette_size(args)


def _size_target(args: argparse.Namespace) -> str | None:
    """The option that chooses the palette size (``--quality``, ``--psnr``, ``--max-bytes``), if any."""
    for name, value in (("--quality", args.quality), ("--psnr", args.psnr), ("--max-bytes", args.max_bytes)):
        if value is not None:
            return name
    return None


def _palette_size(args: argparse.Namespace) -> None:
    """No ``-k``: 16 colours, or up to 256 when a quality, PSNR or size target chooses the size; then
    ``--keep`` must fit in it, a usage error before any work (every file would fail the same way)."""
    if args.colors is None:
        args.colors = MAX_PALETTE if _size_target(args) else 16
    if args.keep is not None and len(args.keep) > args.colors:
        raise UsageError(f"--keep gives {len(args.keep)} colours, more than the palette's {args.colors} (-k)")


def _compress_files(args: argparse.Namespace, jobs: Sequence[Job]) -> int:
    """Run :func:`_run_one` on every (input, output, display name); the exit status of them all."""
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
                                print(f"{PROG}: warning: {warning_text(w.message)}", file=sys.stderr)
            except (
                UnsupportedImageError,
                OutputExistsError,
                OSError,
                ValueError,
                TypeError,
                MemoryError,
                SkippedLarger,
            ) as exc:
                failed += 1
                codes.add(exit_code(exc))
                own = (UnsupportedImageError, OutputExistsError, SkippedLarger, TargetNotMetError)
                msg = str(exc) if isinstance(exc, own) else f"{src}: {message_of(exc)}"
                if isinstance(exc, SkippedLarger):
                    if not args.quiet:
                        print(f"{PROG}: {msg}", file=sys.stderr)
                else:
                    error(msg)
                records.append(
                    {
                        "input_path": src,
                        "status": "skipped" if isinstance(exc, SkippedLarger) else "error",
                        "error": msg,
                    }
                )
    except KeyboardInterrupt:
        error("interrupted")
        return EXIT_INTERRUPTED
    if args.json and not write_json(records):
        codes.add(EXIT_CANT_WRITE)  # the report not written: a failure of its own
    if failed and len(jobs) > 1 and not args.quiet:
        print(f"{PROG}: {failed} of {len(jobs)} files failed or were skipped", file=sys.stderr)
    if not codes:
        return EXIT_OK
    return codes.pop() if len(codes) == 1 else EXIT_FAILED


#: Subcommands: the first argument names one, otherwise the arguments are inputs.
def _cmd_serve(argv: list[str]) -> int:
    """``kmeans-compress serve``: the local web page (``kmeans_compress/_web.py``, the [web] extra)."""
    from ._web import main as serve_main

    return serve_main(argv)


COMMANDS = {"demo": _cmd_demo, "sweep": _cli_sweep.run, "serve": _cmd_serve}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    with standard_streams():
        if args and args[0] in COMMANDS:
            return COMMANDS[args[0]](args[1:])
        return _cmd_compress(args)


def pngquant_main(argv: Sequence[str] | None = None) -> int:
    """``kmeans-pngquant``: pngquant's command line and exit codes (:mod:`kmeans_compress._cli_pngquant`)."""
    with standard_streams():
        return _cli_pngquant.main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
