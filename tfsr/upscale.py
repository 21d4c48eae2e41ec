"""python -m tfsr.upscale: super-resolve images of any size with a trained model.

    python -m tfsr.upscale photo.jpg more/ --output sr/                  # the shipped WDSR-B x4
    python -m tfsr.upscale photo.jpg --scale 2 --output sr/              # the shipped WDSR-B x2
    python -m tfsr.upscale --model best.keras big.png --output sr/ --tile 256 --self-ensemble
    python -m tfsr.upscale --model wdsr_b_x4_int8.tflite photo.jpg --output sr/

Reads PNG, JPEG, BMP and WebP; grayscale stays grayscale and alpha is
upscaled bicubically and re-attached. Each result keeps its input's name.
A file that cannot be read is reported and skipped; the others are done.
"""
import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tfsr import cli
from tfsr.models.presets import PRESETS


def build_parser():
    p = cli.parser(__doc__.splitlines()[0], cli.program("tfsr.upscale"))
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="image files or folders of images")
    p.add_argument("--model", help=f"a preset ({', '.join(PRESETS)}), a .keras file, a SavedModel "
                                   "folder or a .tflite file (default: the shipped WDSR-B for --scale)")
    p.add_argument("--output", required=True, metavar="DIR", help="folder for the upscaled images")
    p.add_argument("--scale", type=int, choices=[2, 3, 4, 8],
                   help="upscaling factor: picks the shipped model without --model (default 4), chooses the "
                        "branch of a multi-scale model, and is checked against single-scale ones")
    p.add_argument("--tile", type=int, default=256,
                   help="LR tile size: memory is bounded by the tile (0 = whole image at once)")
    p.add_argument("--overlap", type=int, default=16,
                   help="LR context added around each tile and cropped off after (hides tile seams)")
    p.add_argument("--self-ensemble", action="store_true", help="average the 8 flips/rotations (EDSR+), 8x slower")
    p.add_argument("--format", choices=["png", "jpg"], default="png", help="output format")
    p.add_argument("--png-level", type=int, default=1, choices=range(10), metavar="0-9",
                   help="PNG compression level: 1 is fast with files a little larger than 6 (PIL's default)")
    p.add_argument("--compare", metavar="HTML",
                   help="also write a self-contained before/after page: bicubic | model per image, in "
                        "synchronised zoomed views")
    p.add_argument("--compare-with", nargs="+", default=[], metavar="MODEL",
                   help="other models (presets or files, same scale) shown beside --model on the --compare page, "
                        "e.g. --model wdsr_b_x4_real --compare-with wdsr_b_x4")
    p.add_argument("--backend", default="litert", choices=["litert", "function", "keras"],
                   help="inference backend (litert = LiteRT/XNNPACK, the fastest on CPU)")
    cli.add_model_choices(p, default_precision="auto")
    return p


def input_files(inputs):
    """(files, problems): the images named or found in folders, and one-line errors."""
    from tfsr.data.images import IMAGE_EXTENSIONS
    files, problems = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(p for p in item.iterdir() if p.is_file() and not p.name.startswith("."))
        elif item.is_file():
            files.append(item)
        else:
            problems.append(f"{item}: no such file or folder")
    supported = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
    problems += [f"{p}: unsupported format (expected {', '.join(IMAGE_EXTENSIONS)})"
                 for p in files if p not in supported]
    return supported, problems


def upscale_files(files, upscaler, output, fmt="png", png_level=1, bar=None, on_result=None):
    """Upscale ``files`` into ``output``; returns (done, errors).

    Decoding the next image and encoding the last result run in background
    threads while the model works on the current one (PIL and zlib release
    the GIL), with at most one image read ahead and two waiting to be
    written, so memory stays a few images deep. ``on_result(path, image,
    sr)`` sees each result (e.g. for a before/after page).
    """
    from tfsr.data.images import ImageError, read_image, write_image
    done, errors = [], []
    reads, writes = deque(), deque()
    remaining = iter(files)

    def read_ahead():
        path = next(remaining, None)
        if path is not None:
            reads.append((path, reader.submit(read_image, path, keep_alpha=True, keep_gray=True)))

    def finish_write():
        path, target, shape, future = writes.popleft()
        try:
            future.result()
            done.append((path, target, shape))
        except OSError as e:
            errors.append(f"{target}: cannot write ({e.strerror or e})")
            print(f"\nerror: {errors[-1]}", file=sys.stderr)

    with ThreadPoolExecutor(1) as reader, ThreadPoolExecutor(1) as writer:
        read_ahead()
        while reads:
            path, future = reads.popleft()
            read_ahead()
            if bar is not None:
                bar.set_description(path.name, refresh=False)
            try:
                image = future.result()
            except ImageError as e:
                errors.append(str(e))
                print(f"\nerror: {e}", file=sys.stderr)
                if bar is not None:
                    bar.update(upscaler.tiles(*_size_or_zero(path)))
                continue
            sr = upscaler(image, on_tile=(lambda: bar.update(1)) if bar is not None else None)
            if on_result:
                on_result(path, image, sr)
            target = output / f"{path.stem}.{fmt}"
            while len(writes) >= 2:
                finish_write()
            writes.append((path, target, sr.shape, writer.submit(
                write_image, target, sr[..., 0] if sr.shape[-1] == 1 else sr, png_level=png_level)))
        while writes:
            finish_write()
    return done, errors


def _size_or_zero(path):
    from tfsr.data.images import ImageError, image_size
    try:
        return image_size(path)
    except ImageError:
        return 0, 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    from tfsr.data.images import ImageError, image_size
    from tfsr.inference.files import load
    from tfsr.progress import progress_bar

    spec = args.model or f"wdsr_b_x{args.scale or 4}"
    options = dict(tile=args.tile or None, overlap=args.overlap, ensemble=args.self_ensemble, backend=args.backend,
                   keep_grey=True)
    upscaler = load(spec, args.scale, strength=args.strength, precision=args.precision, **options)
    scale = upscaler.scale
    files, errors = input_files(args.inputs)
    sizes = {}
    for path in files:
        try:
            sizes[path] = image_size(path)
        except ImageError as e:
            errors.append(str(e))
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    output = Path(args.output)
    if args.compare_with and not args.compare:
        raise cli.UserError("--compare-with needs --compare PAGE.html")
    others = {Path(other).name: load(other, scale, precision=args.precision, **options)
              for other in args.compare_with}
    label = Path(spec).name if args.strength is None else f"{Path(spec).name} at strength {args.strength:g}"
    page = ComparePage(label, others) if args.compare else None
    with progress_bar(total=sum(upscaler.tiles(h, w) for h, w in sizes.values()), unit="tile") as bar:
        done, failed = upscale_files(list(sizes), upscaler, output, args.format, args.png_level, bar,
                                     page and page.add)
    errors += failed
    for path, target, shape in done:
        print(f"{path} -> {target}  ({shape[1]}x{shape[0]}, x{scale})")
    failures = f"; {len(errors)} failed" if errors else ""
    if done:
        print(f"upscaled {len(done)} image(s) x{scale} into {output} with {upscaler.source}{failures}")
    else:
        print(f"upscaled no image{failures}")
    if page and done:
        page.write(args.compare, f"{label} x{scale}", scale)
        print(f"before/after page written to {args.compare}")
    return 1 if errors else 0


class ComparePage:
    """Bicubic | other models | the model, per upscaled image, for ``--compare``.

    ``others`` maps labels to upscalers run on each image for the page only.
    """

    def __init__(self, label, others=None):
        self.label, self.others, self.items, self.rows = label, others or {}, [], []

    def add(self, path, image, sr):
        from tfsr.color import as_uint8
        from tfsr.data import bicubic_upscale
        from tfsr.no_reference import no_reference_scores
        from tfsr.report import comparison_item

        def rgb(x):
            return np.repeat(x, 3, -1) if x.shape[-1] == 1 else x[..., :3]

        scale = sr.shape[0] // image.shape[0]
        panels = {"bicubic": bicubic_upscale(rgb(image), scale)}
        panels.update({label: rgb(other(image)) for label, other in self.others.items()})
        panels[self.label] = rgb(sr)
        niqe = {label: no_reference_scores(as_uint8(panel), scale, ("niqe",))["niqe"] for label, panel in panels.items()}
        self.rows.append((path.name, niqe))
        self.items.append(comparison_item(path.name, panels, {label: f"NIQE {value:.2f}"
                                                              for label, value in niqe.items() if not np.isnan(value)}))

    def write(self, path, title, scale):
        from tfsr.data.images import atomic_output
        from tfsr.report import niqe_table, page
        scored = [row for row in self.rows if not all(np.isnan(v) for v in row[1].values())]  # NaN: < 96 px
        table = niqe_table(scored, list(scored[0][1])) if scored else ""
        with atomic_output(path) as tmp:
            tmp.write_text(page(title, self.items, table,
                                note=f"x{scale}; no ground truth: each view opens where the model differs most "
                                     f"from bicubic. NIQE (MATLAB's, lower is more natural) of each whole output; "
                                     f"images under 96 px have none."))


console = cli.entry_point(main)  # the tfsr-upscale console script: exactly `python -m tfsr.upscale`

if __name__ == "__main__":
    raise SystemExit(console())
