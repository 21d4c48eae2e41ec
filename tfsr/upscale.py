"""python -m tfsr.upscale: super-resolve images of any size with a trained model.

    python -m tfsr.upscale --model best.keras photo.jpg more/ --output sr/
    python -m tfsr.upscale --model best.keras big.png --output sr/ --tile 256 --self-ensemble

Reads PNG, JPEG, BMP and WebP; grayscale stays grayscale and alpha is
upscaled bicubically and re-attached. Each result keeps its input's name.
A file that cannot be read is reported and skipped; the others are done.
"""
import sys
from pathlib import Path

from tfsr import cli


def build_parser():
    p = cli.parser(__doc__.splitlines()[0], "python -m tfsr.upscale")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="image files or folders of images")
    p.add_argument("--model", required=True, help="a .keras file or a SavedModel folder")
    p.add_argument("--output", required=True, metavar="DIR", help="folder for the upscaled images")
    p.add_argument("--scale", type=int, help="scale of a multi-scale model (checked against single-scale ones)")
    p.add_argument("--tile", type=int, default=256,
                   help="LR tile size: memory is bounded by the tile (0 = whole image at once)")
    p.add_argument("--overlap", type=int, default=16,
                   help="LR context added around each tile and cropped off after (hides tile seams)")
    p.add_argument("--self-ensemble", action="store_true", help="average the 8 flips/rotations (EDSR+), 8x slower")
    p.add_argument("--format", choices=["png", "jpg"], default="png", help="output format")
    p.add_argument("--backend", default="litert", choices=["litert", "function", "keras"],
                   help="inference backend (litert = LiteRT/XNNPACK, the fastest on CPU)")
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


def main(argv=None):
    args = build_parser().parse_args(argv)
    from tqdm import tqdm

    from tfsr.data.images import ImageError, image_size, read_image, write_image
    from tfsr.inference import Upscaler, for_scale, load_model

    model, scale = for_scale(load_model(args.model), args.scale, args.model)
    upscaler = Upscaler.from_model(model, scale, args.tile or None, args.overlap, args.self_ensemble,
                                   args.backend)
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
    done = []
    with tqdm(total=sum(upscaler.tiles(h, w) for h, w in sizes.values()), unit="tile") as bar:
        for path, (h, w) in sizes.items():
            bar.set_description(path.name)
            try:
                image = read_image(path, keep_alpha=True, keep_gray=True)
            except ImageError as e:
                print(f"\nerror: {e}", file=sys.stderr)
                errors.append(str(e))
                bar.update(upscaler.tiles(h, w))
                continue
            sr = upscaler(image, on_tile=lambda: bar.update(1))
            target = output / f"{path.stem}.{args.format}"
            write_image(target, sr[..., 0] if sr.shape[-1] == 1 else sr)
            done.append((path, target, sr.shape))
    for path, target, shape in done:
        print(f"{path} -> {target}  ({shape[1]}x{shape[0]}, x{scale})")
    print(f"upscaled {len(done)} image(s) x{scale} into {output}" + (f"; {len(errors)} failed" if errors else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
