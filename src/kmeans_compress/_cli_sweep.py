"""``kmeans-compress sweep``: the rate-distortion table (and figure) of one image."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ._cli_common import (
    EXIT_CANT_WRITE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    PROG,
    Parser,
    UsageError,
    announce_compiling,
    check_figure_folder,
    colors,
    error,
    exit_code,
    max_pixels_option,
    png_path,
    seed,
    usage_failed,
    write_json,
    write_stdout,
)
from ._decode import sample_image_path
from ._exceptions import (
    ImageTooLargeError,
    OutputExistsError,
    UnsupportedImageError,
    caught_warnings,
    message_of,
    warning_text,
)
from ._files import refuse_input

__all__ = ["run"]


def _ks(text: str) -> list[int]:
    ks = []
    for part in text.split(","):
        try:
            ks.append(colors(part.strip()))
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} in {text!r}: {exc}") from None
    return ks


def _sweep_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=f"{PROG} sweep",
        description="Compress one image at several palette sizes and print K against the real PNG "
        "bytes and the quality (PSNR). Nothing is written but the optional figure.",
    )
    p.add_argument("input", nargs="?", metavar="INPUT", help="image file (default: the embedded sample photo)")
    p.add_argument(
        "--ks",
        type=_ks,
        default=None,
        metavar="K,K,...",
        help="palette sizes, comma-separated, each 1-256 (default 2,4,8,16,32,64,128,256)",
    )
    p.add_argument(
        "--plot",
        type=png_path,
        metavar="OUT.png",
        help="also draw the rate-distortion figure into OUT.png (needs matplotlib)",
    )
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing --plot file")
    p.add_argument("--seed", type=seed, default=0, metavar="N", help="random seed (default 0)")
    max_pixels_option(p)
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


def run(argv: list[str]) -> int:
    """``kmeans-compress sweep``: the rate-distortion table (and figure) of one image."""
    from ._sweep import DEFAULT_KS, sweep
    from .plots import INSTALL_HINT, matplotlib_available

    try:
        args = _sweep_parser().parse_args(argv)
        if args.ks == []:  # "--ks=--": argparse drops the "--" and passes no value at all, not even ''
            raise UsageError("argument --ks: expected at least one palette size, got none")
        announce_compiling(args.quiet)
        if args.plot is not None:
            if not matplotlib_available():
                raise UsageError(f"--plot: {INSTALL_HINT}")
            check_figure_folder(args.plot, "--plot")
    except UsageError as exc:
        return usage_failed(exc)
    src = args.input if args.input is not None else str(sample_image_path())
    try:
        if args.plot is not None:  # the outputs' rules; and never over the input, whatever --force
            refuse_input(args.plot, [src], "--plot")
            if not args.force and os.path.lexists(args.plot):
                raise OutputExistsError(f"{args.plot}: already exists (use --force to overwrite)")
        with caught_warnings() as caught:  # one line each, as the main command prints them (sweep has no --frame)
            try:
                results = sweep(
                    src, DEFAULT_KS if args.ks is None else args.ks, random_state=args.seed, max_pixels=args.max_pixels
                )
            finally:
                for w in caught if not args.quiet else ():
                    print(f"{PROG}: warning: {warning_text(w, frame_option=False)}", file=sys.stderr)
        if args.json:
            printed = write_json([r.report.to_dict() for r in results])
        else:
            if not args.quiet:
                rep = results[0].report
                name = args.input if args.input is not None else "chelsea.png (embedded sample)"
                print(
                    f"{name}: {rep.width}x{rep.height}, {rep.n_distinct_input:,} distinct colours, "
                    f"24-bit RGB {rep.original_bits // 8:,} bytes",
                    file=sys.stderr,
                )
            printed = write_stdout(_format_sweep(results) + "\n", "the table")
        if args.plot is not None:
            from .plots import plot_rate_distortion, save_figure

            fig = plot_rate_distortion(results, random_state=args.seed)
            target = save_figure(fig, args.plot, overwrite=args.force, close=True)
            if not args.quiet:
                print(f"rate-distortion figure -> {target}", file=sys.stderr)
    except (UnsupportedImageError, OutputExistsError) as exc:  # the main command's exit statuses (3, 4, 6, ...)
        # sweep has --max-pixels, but no --frame: it sweeps an animation whole
        error(exc.message("raise it with --max-pixels") if isinstance(exc, ImageTooLargeError) else str(exc))
        return exit_code(exc)
    except (OSError, ValueError, TypeError, MemoryError) as exc:
        error(f"{src}: {message_of(exc)}")
        return exit_code(exc)
    except KeyboardInterrupt:
        error("interrupted")
        return EXIT_INTERRUPTED
    return EXIT_OK if printed else EXIT_CANT_WRITE
