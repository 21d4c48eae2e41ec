"""Lone bright pixels: single output pixels far brighter than all eight neighbours (sparkle artifacts).

    python tools/studies/lone_pixels.py wdsr_b_x4_real runs/student/best.keras \\
        --natural ../shared/data/benchmark/Kodak24 --protocol jpeg:75

A phase-free loss (the amplitude spectrum, `--loss fft`) can be met by
isolated pixels, whose spectrum is flat; a photo upscaled x4 has almost
none (a pixel's neighbours share its light). Counts, over every image of
the folder degraded by ``--protocol`` (seed 0), the output pixels whose
luma is more than ``--margin`` grey levels above each of their 8 neighbours.
"""
import sys

import numpy as np

from tfsr import cli
from tfsr.color import luma


def lone_pixels(image, margin):
    """How many pixels of an RGB image have a luma ``margin`` above all 8 neighbours."""
    y = luma(image)
    core = y[1:-1, 1:-1]
    neighbours = [y[1 + dy:y.shape[0] - 1 + dy, 1 + dx:y.shape[1] - 1 + dx]
                  for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    return int((core - np.max(neighbours, axis=0) > margin).sum())


def main(argv=None):
    p = cli.parser(__doc__.splitlines()[0], "python tools/studies/lone_pixels.py")
    p.add_argument("models", nargs="+", help="x4 presets or model files")
    p.add_argument("--natural", required=True, help="folder of HR photographs to degrade (e.g. Kodak24)")
    p.add_argument("--protocol", default="jpeg:75", help="degradation of their LR")
    p.add_argument("--margin", type=float, default=25.0, help="grey levels above every neighbour")
    args = p.parse_args(argv)
    from tfsr.data import degradation, resolve
    from tfsr.inference import load
    source = resolve(args.natural, 4, split="valid").degraded(degradation(args.protocol))
    inputs = [source.load(i)[0] for i in range(len(source))]
    for spec in args.models:
        upscale = load(spec, 4, precision="float32", tile=None)
        count = sum(lone_pixels(upscale(lr), args.margin) for lr in inputs)
        print(f"{spec:<50} {count:6d} lone bright pixels in {len(inputs)} images ({args.protocol})")


if __name__ == "__main__":
    sys.exit(main())
