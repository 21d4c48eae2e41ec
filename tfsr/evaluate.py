"""python -m tfsr.evaluate: PSNR/SSIM (and NIQE) of a model (or bicubic) on a benchmark set or on photos.

    python -m tfsr.evaluate --model best.keras --dataset set5 --data-dir ~/benchmark
    python -m tfsr.evaluate --arch bicubic --scale 4 --dataset set14
    python -m tfsr.evaluate --model wdsr_b_x4_real --dataset set14 --metrics psnr,ssim,niqe
    python -m tfsr.evaluate --model wdsr_b_x4_real --inputs photos/      # no HR: NIQE of the outputs
"""
import argparse
import json
from pathlib import Path

from tfsr import cli
from tfsr.models.presets import PRESETS

CONVENTIONS = ("auto", "benchmark", "div2k")


def build_parser():
    p = cli.parser(__doc__.splitlines()[0], cli.program("tfsr.evaluate"))
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help=f"a preset ({', '.join(PRESETS)}), a .keras file, a SavedModel "
                                      "folder or a .tflite file (scored exactly as that file computes)")
    what.add_argument("--arch", choices=["bicubic"], help="evaluate a baseline instead of a model")
    p.add_argument("--scale", type=int, choices=[2, 3, 4, 8],
                   help="upscaling factor (default: the model's; required for --arch bicubic "
                        "and multi-scale models)")
    p.add_argument("--dataset", default="set5",
                   help="set5, set14, b100, urban100, manga109 (under --data-dir), div2k "
                        "(validation images), sample, or a folder (HR images, or HR/ + LR_bicubic/X<s>/)")
    p.add_argument("--data-dir", help="root of the datasets (default: $TFSR_DATA_DIR or ~/.tfsr/datasets)")
    p.add_argument("--hold-out", type=int, metavar="N",
                   help="score on the N images a training run with --hold-out N keeps out of this dataset (the "
                        "same images, spread evenly over it): its validation set")
    p.add_argument("--degradation", default="bicubic", metavar="CHAIN",
                   help="the LR images scored on: bicubic (the set's LR, the papers' protocol), jpeg:Q (that LR "
                        "saved as JPEG at quality Q), classical, bsrgan, realesrgan, mixed, photo (made from the HR "
                        "image, one fixed draw per image), or unknown (DIV2K's own files)")
    p.add_argument("--degradation-seed", type=int, default=0,
                   help="seed of the degraded LR images (each image's draw: this seed and its name)")
    p.add_argument("--degradation-options", type=json.loads, metavar="JSON",
                   help='override the chain\'s probabilities and ranges, e.g. \'{"noise_range": [2, 10]}\'')
    p.add_argument("--save-lr", metavar="DIR",
                   help="write the (degraded) LR images to this folder as <name>x<scale>.png, for other tools")
    p.add_argument("--metrics", default=None, type=_metrics,
                   help="comma-separated: psnr, ssim (need HR), niqe (MATLAB's NIQE of the SR image, lower is "
                        "more natural), grid (pixel-shuffle checkerboard, dB) (default: psnr,ssim; with --inputs: "
                        "niqe,grid)")
    p.add_argument("--inputs", nargs="+", metavar="PATH",
                   help="score on these images or folders as the LR inputs, with no HR (real photos): only the "
                        "no-reference metrics (niqe, grid); replaces --dataset")
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
    p.add_argument("--report", metavar="HTML",
                   help="write a self-contained before/after page: the table and, per image, bicubic | model | "
                        "HR in synchronised zoomed views")
    cli.add_model_choices(p, default_precision="float32")
    return p


def _metrics(text):
    from tfsr.evaluation import METRICS
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown metric(s) {', '.join(unknown) or '(none)'}; "
                                         f"choose from {', '.join(METRICS)}")
    return tuple(names)


class ReportPage:
    """Collects bicubic | model | HR per image while evaluating, then writes the HTML page."""

    def __init__(self, label, scale, convention):
        self.label, self.scale, self.convention = label, scale, convention
        self.items, self.rows = [], []

    def add(self, name, lr, sr, hr):
        from tfsr.data import bicubic_upscale
        from tfsr.metrics import psnr, ssim
        from tfsr.report import comparison_item
        bicubic = bicubic_upscale(lr, self.scale)
        scores = {label: (psnr(image, hr, self.scale, self.convention), ssim(image, hr, self.scale, self.convention))
                  for label, image in (("bicubic", bicubic), (self.label, sr))}
        self.rows.append((name, scores))
        self.items.append(comparison_item(name, {"bicubic": bicubic, self.label: sr}, scores, hr))

    def write(self, path, title):
        from tfsr.data.images import atomic_output
        from tfsr.report import page, scores_table
        text = page(title, self.items, scores_table(self.rows, ["bicubic", self.label]),
                    f"PSNR/SSIM: {self.convention.describe(self.scale)}.")
        with atomic_output(path) as tmp:
            tmp.write_text(text)


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.check_inputs(models=[args.model], datasets=[args.dataset])
    from tfsr.data import bicubic_upscale, resolve
    from tfsr.evaluation import evaluate
    from tfsr.inference.files import load
    from tfsr.metrics import BENCHMARK, DIV2K

    if args.model:
        upscale = load(args.model, args.scale, strength=args.strength, precision=args.precision, tile=args.tile,
                       overlap=args.overlap, ensemble=args.self_ensemble, backend=args.backend)
        scale = upscale.scale
        label = args.model + (" (self-ensemble)" if args.self_ensemble else "")
    else:
        if args.scale is None:
            raise cli.UserError("--arch bicubic needs --scale")
        scale = args.scale
        upscale = lambda lr: bicubic_upscale(lr, scale)
        label = "bicubic (MATLAB imresize)"
    if args.inputs:
        return _score_inputs(args, upscale, scale, label)
    from tfsr.data.degradation_options import DegradationError
    from tfsr.data.degradations import degradation
    lr_files = "unknown" if args.degradation == "unknown" else "bicubic"
    split = "train" if args.hold_out else "valid"  # held-out images come from the training split
    source = resolve(args.dataset, scale, split=split, data_dir=args.data_dir, degradation=lr_files)
    if args.hold_out:
        from tfsr.data import split_held_out
        source = split_held_out(source, args.hold_out)[1]
    if lr_files != "unknown":
        try:
            chain = degradation(args.degradation, args.degradation_options)
        except DegradationError as e:
            raise cli.UserError(str(e)) from None
        source = source.degraded(chain, args.degradation_seed)
    div2k = args.convention == "div2k" or (args.convention == "auto" and args.dataset.lower() == "div2k")
    convention = DIV2K if div2k else BENCHMARK
    page = ReportPage(Path(label).name, scale, convention) if args.report else None
    report = evaluate(source, upscale, convention, args.save_images, on_result=page and page.add,
                      lr_dir=args.save_lr, metrics=args.metrics or ("psnr", "ssim"))
    print(f"\n{label}")
    print(report.table())
    if args.json:
        report.save_json(args.json)
        print(f"results written to {args.json}")
    if page:
        page.write(args.report, f"{label} on {source.name} x{scale}")
        print(f"before/after page written to {args.report}")


def _score_inputs(args, upscale, scale, label):
    """``--inputs``: upscale photos that have no HR and score the outputs with the no-reference metrics."""
    from tfsr.evaluation import FULL_REFERENCE, evaluate_inputs
    from tfsr.upscale import input_files
    metrics = args.metrics or ("niqe", "grid")
    if set(metrics) & set(FULL_REFERENCE):
        raise cli.UserError(f"--inputs have no HR: {', '.join(sorted(set(metrics) & set(FULL_REFERENCE)))} "
                            f"cannot be scored (use --metrics niqe,grid, or --dataset with HR images)")
    files, errors = input_files(args.inputs)
    if errors:
        raise cli.UserError(errors[0])
    report = evaluate_inputs(files, upscale, scale, metrics, args.save_images)
    print(f"\n{label}")
    print(report.table())
    if args.json:
        report.save_json(args.json)
        print(f"results written to {args.json}")


console = cli.entry_point(main)  # the tfsr-evaluate console script: exactly `python -m tfsr.evaluate`

if __name__ == "__main__":
    raise SystemExit(console())
