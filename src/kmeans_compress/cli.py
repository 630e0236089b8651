"""Command line: argument parsing, file naming and exit codes only.

Exit status: 0 all files done; 1 at least one file failed; 2 usage error;
130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn, Sequence

from . import __version__
from ._compress import compress, sample_image_path
from .io import OutputExistsError, UnsupportedImageError
from .quantize import MAX_PALETTE

PROG = "kmeans-compress"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad command line: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        raise UsageError(message)


def _colors(text: str) -> int:
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 1 <= k <= MAX_PALETTE:
        raise argparse.ArgumentTypeError(
            f"must be from 1 to {MAX_PALETTE} for PNG output (a PNG palette holds at most "
            f"{MAX_PALETTE} colours), got {k}"
        )
    return k


def _seed(text: str) -> int:
    try:
        s = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if s < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {s}")
    return s


def _ext(text: str) -> str:
    if not text.lower().endswith(".png") or "/" in text or os.sep in text:
        raise argparse.ArgumentTypeError(f"must be a file-name suffix ending in .png, got {text!r}")
    return text


def _add_main_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files (PNG, JPEG, WebP, GIF, TIFF, BMP)")
    p.add_argument("-k", "--colors", type=_colors, default=16, metavar="K", help="palette size, 1-256 (default 16)")
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


# Each feature adds its options through one function in this list.
OPTION_GROUPS = [_add_main_options]


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

    if output is None:
        return [beside(s, None) for s in inputs]
    if output == "-":
        if len(inputs) != 1:
            raise UsageError("-o - (stdout) takes exactly one input")
        return ["-"]
    out = Path(output)
    if out.is_dir():
        return [beside(s, out) for s in inputs]
    if len(inputs) > 1:
        raise UsageError(f"-o {output}: with several inputs, -o must be an existing folder")
    if out.suffix.lower() != ".png":
        raise UsageError(f"-o {output}: the output must be a .png file (or an existing folder)")
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise UsageError(f"-o {output}: the folder {out.parent} does not exist")
    return [output]


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
    result = compress(src, n_colors=args.colors, random_state=args.seed)
    if dst == "-":
        data = result.to_png_bytes()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        result.report = dataclasses.replace(result.report, output_bytes=len(data), output_path="-")
    else:
        result.save(dst, overwrite=args.force)
    report = result.report
    if display_name is not None:
        report = dataclasses.replace(report, input_path=display_name)
    if not args.quiet and not args.json:
        print(report.format(), file=sys.stderr)
    return report.to_dict()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        demo = bool(argv) and argv[0] == "demo"
        args = build_parser().parse_args(["demo"] + argv[1:] if demo else argv)
        if demo:
            if args.inputs != ["demo"]:
                raise UsageError("'demo' takes no input files")
            sample = str(sample_image_path())
            folder = args.output if args.output is not None else "."
            if folder != "-" and not Path(folder).suffix and not Path(folder).is_dir():
                raise UsageError(f"-o {folder}: the folder does not exist")
            jobs = [(sample, _plan_outputs([sample], folder, args.ext)[0], "chelsea.png (embedded sample)")]
        else:
            outputs = _plan_outputs(args.inputs, args.output, args.ext)
            jobs = [(s, d, None) for s, d in zip(args.inputs, outputs)]
        if jobs[0][1] == "-":
            if args.json:
                raise UsageError("--json and -o - both write to stdout; choose one")
            if sys.stdout.isatty():
                raise UsageError("refusing to write PNG data to a terminal; redirect stdout or use -o FILE")
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE

    records: list[dict[str, Any]] = []
    failed = 0
    try:
        for src, dst, name in jobs:
            try:
                records.append(_run_one(src, dst, args, name))
            except (UnsupportedImageError, OutputExistsError, OSError, ValueError, TypeError, MemoryError) as exc:
                failed += 1
                msg = str(exc) if isinstance(exc, (UnsupportedImageError, OutputExistsError)) else f"{src}: {exc}"
                _error(msg)
                records.append({"input_path": src, "status": "error", "error": msg})
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    if args.json:
        json.dump(records, sys.stdout, indent=2, allow_nan=False, default=str)
        sys.stdout.write("\n")
    if failed and len(jobs) > 1 and not args.quiet:
        print(f"{PROG}: {failed} of {len(jobs)} files failed", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
