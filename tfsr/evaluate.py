"""python -m tfsr.evaluate: PSNR/SSIM of a model (or bicubic) on a benchmark set.

    python -m tfsr.evaluate --model best.keras --dataset set5 --data-dir ~/benchmark
    python -m tfsr.evaluate --arch bicubic --scale 4 --dataset set14
"""
from tfsr import cli

CONVENTIONS = ("auto", "benchmark", "div2k")


def build_parser():
    p = cli.parser(__doc__.splitlines()[0], "python -m tfsr.evaluate")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="a .keras file or a SavedModel folder")
    what.add_argument("--arch", choices=["bicubic"], help="evaluate a baseline instead of a model")
    p.add_argument("--scale", type=int, choices=[2, 3, 4, 8],
                   help="upscaling factor (default: the model's; required for --arch bicubic "
                        "and multi-scale models)")
    p.add_argument("--dataset", default="set5",
                   help="set5, set14, b100, urban100, manga109 (under --data-dir), div2k "
                        "(validation images), sample, or a folder (HR images, or HR/ + LR_bicubic/X<s>/)")
    p.add_argument("--data-dir", help="root of the datasets (default: $TFSR_DATA_DIR or ~/.tfsr/datasets)")
    p.add_argument("--degradation", default="bicubic", choices=["bicubic", "unknown"],
                   help="DIV2K degradation")
    p.add_argument("--convention", default="auto", choices=CONVENTIONS,
                   help="benchmark: Y channel, shave scale; div2k: RGB, shave scale+6; "
                        "auto: div2k for DIV2K, benchmark otherwise")
    p.add_argument("--self-ensemble", action="store_true", help="average the 8 flips/rotations (EDSR+)")
    p.add_argument("--tile", type=int, help="LR tile size for bounded memory (default: whole image)")
    p.add_argument("--overlap", type=int, default=16,
                   help="LR context added around each tile and cropped off after (hides tile seams)")
    p.add_argument("--backend", default="litert", choices=["litert", "function", "keras"],
                   help="inference backend")
    p.add_argument("--json", help="write the results to this JSON file")
    p.add_argument("--save-images", metavar="DIR", help="write the SR images to this folder")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from tfsr.data import bicubic_upscale, resolve
    from tfsr.evaluation import evaluate
    from tfsr.inference import Upscaler, for_scale, load_model
    from tfsr.metrics import BENCHMARK, DIV2K

    if args.model:
        model, scale = for_scale(load_model(args.model), args.scale, args.model)
        upscale = Upscaler.from_model(model, scale, args.tile, args.overlap, args.self_ensemble, args.backend)
        label = args.model + (" (self-ensemble)" if args.self_ensemble else "")
    else:
        if args.scale is None:
            raise cli.UserError("--arch bicubic needs --scale")
        scale = args.scale
        upscale = lambda lr: bicubic_upscale(lr, scale)
        label = "bicubic (MATLAB imresize)"
    source = resolve(args.dataset, scale, split="valid", data_dir=args.data_dir,
                     degradation=args.degradation)
    div2k = args.convention == "div2k" or (args.convention == "auto" and args.dataset.lower() == "div2k")
    report = evaluate(source, upscale, DIV2K if div2k else BENCHMARK, args.save_images)
    print(f"\n{label}")
    print(report.table())
    if args.json:
        report.save_json(args.json)
        print(f"results written to {args.json}")


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
