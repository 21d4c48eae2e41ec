"""Untrained networks of chosen sizes, saved as .keras files to export and time: speed does not depend on weights.

    python tools/studies/untrained_models.py wdsr_b 32x16x6 32x8x6 24x12x6 --output sizes/
    for f in sizes/*.keras; do
        python -m tfsr.export $f ${f%.keras}_int8.tflite --quantize int8 --num-calibration 32; done
    python tools/benchmark_exports.py sizes/wdsr_b_32x16x6.keras sizes/*_int8.tflite --repeat 11 \\
        --peers ncnn:realesrgan-x4plus
"""
import sys
from pathlib import Path

from tfsr import cli
from tfsr.models import ARCHITECTURES

SIZE_ORDER = ("features", "blocks", "convs", "expansion")  # of those the architecture takes (its registry's options)


def overrides(arch, size):
    """The `tfsr.models.build` hyperparameters a size names."""
    from tfsr.models import get_arch
    try:
        numbers = [int(n) for n in size.split("x")]
    except ValueError:
        raise cli.UserError(f"{size}: a size is numbers joined by x, e.g. 32x8x6") from None
    names = tuple(name for name in SIZE_ORDER if name in get_arch(arch).options)
    if not 1 <= len(numbers) <= len(names):
        raise cli.UserError(f"{size}: {arch} takes up to {len(names)} numbers ({'x'.join(names)})")
    return dict(zip(names, numbers))


def main(argv=None):
    p = cli.parser(__doc__.splitlines()[0], "python tools/studies/untrained_models.py")
    p.add_argument("arch", choices=ARCHITECTURES, help="the architecture")
    p.add_argument("sizes", nargs="+", help="sizes: FEATURESxBLOCKSxEXPANSION for WDSR (e.g. 32x8x6), "
                   "FEATURESxBLOCKS for EDSR and MDSR, FEATURESxCONVS for SRVGG; trailing numbers may be left out")
    p.add_argument("--scale", type=int, default=4, help="upscaling factor")
    p.add_argument("--seed", type=int, default=0, help="weight initialisation seed")
    p.add_argument("--output", type=Path, required=True, help="the folder the .keras files go to")
    args = p.parse_args(argv)
    import keras

    from tfsr.models import build
    args.output.mkdir(parents=True, exist_ok=True)
    for size in args.sizes:
        keras.utils.set_random_seed(args.seed)
        model = build(args.arch, args.scale, **overrides(args.arch, size))
        path = args.output / f"{args.arch}_{size}.keras"
        model.save(path)
        print(f"{path}: {model.count_params():,} parameters")


if __name__ == "__main__":
    sys.exit(cli.run(main, sys.argv[1:]))
