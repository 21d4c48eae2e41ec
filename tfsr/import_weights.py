"""python -m tfsr.import_weights: weights trained elsewhere as a tfsr .keras model.

    python -m tfsr.import_weights wdsr-b-16-x4.h5 --format krasserm --output wdsr_b_x4.keras
    python -m tfsr.import_weights edsr_baseline_x2-1bc95232.pt --format edsr-pytorch --arch edsr_baseline \\
        --scale 2 --output edsr_baseline_x2.keras
    python -m tfsr.import_weights realesr-general-x4v3.param --format ncnn --output realesr_general_x4v3.keras

krasserm/super-resolution ``.h5`` files are read with h5py, EDSR-PyTorch
``.pt``/``.pth`` state dicts by an allow-listed unpickler, ncnn files
(Real-ESRGAN's compact net, SRVGG) as text and raw numbers: no code in a
weights file runs. Hyperparameters are read from the file; --arch/--scale/
--blocks/... only check it.
"""
from tfsr import cli


def build_parser():
    p = cli.parser(__doc__.splitlines()[0], cli.program("tfsr.import_weights"))
    p.add_argument("src", help="the weights file (.h5, .pt/.pth, or an ncnn .param with its .bin beside it)")
    p.add_argument("--format", required=True, choices=["krasserm", "edsr-pytorch", "ncnn"],
                   help="krasserm/super-resolution Keras 2 .h5, an EDSR-PyTorch state dict, or ncnn files of "
                        "Real-ESRGAN's compact net (realesr-general-x4v3, realesr-animevideov3)")
    p.add_argument("--output", required=True, help="the .keras file to write")
    p.add_argument("--arch", help="expected architecture (edsr_baseline, edsr, mdsr_baseline, mdsr, wdsr_a, wdsr_b, srvgg)")
    p.add_argument("--scale", type=int, help="expected scale")
    p.add_argument("--blocks", type=int, help="expected number of residual blocks")
    p.add_argument("--features", type=int, help="expected number of features")
    p.add_argument("--expansion", type=int, help="expected WDSR expansion ratio")
    p.add_argument("--low-rank", type=float, help="expected WDSR-B low-rank ratio")
    p.add_argument("--res-scale", type=float,
                   help="residual scaling used in training (not stored in the files; default 1, "
                        "or 0.1 for the official 32-block 256-feature EDSR)")
    p.add_argument("--fold", action="store_true", help="WDSR: plain convolutions instead of weight norm")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if not args.output.endswith(".keras"):
        raise cli.UserError(f"{args.output}: the output must be a .keras file")
    cli.check_inputs(files=[args.src])
    from tfsr.data.images import atomic_output
    from tfsr.importers import WeightsError, import_weights
    from tfsr.models.complexity import count_params
    try:
        model = import_weights(args.src, args.format, arch=args.arch, scale=args.scale, fold=args.fold,
                               res_scale=args.res_scale, blocks=args.blocks, features=args.features,
                               expansion=args.expansion, low_rank=args.low_rank)
    except WeightsError as e:
        raise cli.UserError(str(e)) from None
    with atomic_output(args.output) as tmp:
        model.save(tmp)
    print(f"{args.src} -> {args.output}: {model.name}, {count_params(model):,} parameters")


console = cli.entry_point(main)  # the tfsr-import-weights console script: exactly `python -m tfsr.import_weights`

if __name__ == "__main__":
    raise SystemExit(console())
