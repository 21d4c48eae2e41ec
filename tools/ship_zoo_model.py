"""Ship a zoo run's best model as a preset: the .keras file, its benchmark scores, float16 and int8 exports.

    python tools/ship_zoo_model.py saved_models/runs/wdsr_b_x2 --data-dir ../shared/data/benchmark \\
        --calibration ../shared/data/train --qat-steps 300

Writes, in saved_models/ (or --output), for preset NAME (default: the run
folder's name):

  NAME.keras                 the run's best.keras (chosen on its validation set)
  NAME.keras.json            Set5 and Set14 PSNR/SSIM (and bicubic's) on clean LR and on each
                             --score-degradations protocol, parameters, FLOPs per LR pixel, the
                             step, the run's training time from its metrics.csv, and (for a
                             preset of clean inputs) VDSR's, DRRN's and MemNet's published PSNR
  NAME_float16.tflite(.json) float16 export, verified on Set5
  NAME_int8.tflite(.json)    full-integer int8 export (optionally quantization-aware
                             fine-tuned), verified on Set5; refused above --max-int8-drop

A preset trained for degraded inputs (its ``inputs`` chain, e.g. the real
presets' ``photo``) is verified on Set5 degraded by that chain (seed 0),
and its int8 ranges are calibrated and fine-tuned on training images
degraded the same way: the protocol the model is for.
"""
import csv
import json
import os
import shutil
import sys
from itertools import pairwise
from pathlib import Path

from tfsr import cli

ROOT = Path(__file__).resolve().parents[1]

METRICS = ("psnr", "ssim", "niqe")  # NIQE: what a perceptual preset is for (MATLAB's, lower is more natural)
PUBLISHED = {  # Y-PSNR of the best published models trained on the same 291 images: {scale: {model: (Set5, Set14)}}
    2: {"VDSR": (37.53, 33.03), "DRRN": (37.74, 33.23), "MemNet": (37.78, 33.28)},
    3: {"VDSR": (33.66, 29.77), "DRRN": (34.03, 29.96), "MemNet": (34.09, 30.00)},
    4: {"VDSR": (31.35, 28.01), "DRRN": (31.68, 28.21), "MemNet": (31.74, 28.26)},
}


def training_hours(metrics_csv):
    """Wall-clock hours the run trained, from its metrics.csv timestamps.

    A gap much longer than the run's usual interval between rows is a pause
    between sessions; such a gap is counted at the run's median seconds per
    step instead.
    """
    with open(metrics_csv) as f:
        rows = [(int(r["step"]), float(r["time"])) for r in csv.DictReader(f)]
    per_step = sorted((t1 - t0) / (s1 - s0) for (s0, t0), (s1, t1) in pairwise(rows) if s1 > s0)
    if not per_step:
        return 0.0
    median = per_step[len(per_step) // 2]
    seconds = rows[0][0] * median
    for (s0, t0), (s1, t1) in pairwise(rows):
        steps = s1 - s0
        seconds += t1 - t0 if (t1 - t0) <= 3 * median * steps else median * steps
    return seconds / 3600


def main(argv=None):
    p = cli.parser(__doc__.splitlines()[0], "python tools/ship_zoo_model.py")
    p.add_argument("run", help="the zoo run folder (holds best.keras, best.json, metrics.csv)")
    p.add_argument("--name", help="preset name (default: the run folder's name)")
    p.add_argument("--output", default=os.path.relpath(ROOT / "saved_models"), help="where the preset files go")
    p.add_argument("--data-dir", required=True, help="root of the benchmark sets (Set5, Set14)")
    p.add_argument("--calibration", required=True, help="int8 calibration images (a folder or dataset name)")
    p.add_argument("--qat-steps", type=int, default=0, help="quantization-aware fine-tuning steps for int8")
    p.add_argument("--max-int8-drop", type=float, default=0.2, help="refuse the int8 export above this PSNR loss")
    p.add_argument("--score-degradations", nargs="*", default=["jpeg:75", "classical"], metavar="CHAIN",
                   help="degraded protocols (seed 0) to score on besides clean LR; the preset's own chain is added")
    args = p.parse_args(argv)

    from tfsr.data import resolve
    from tfsr.data.degradations import degradation
    from tfsr.data.images import atomic_output
    from tfsr.data.sources import bicubic_upscale
    from tfsr.deploy.export import ExportError, export_tflite
    from tfsr.deploy.verify import calibration_patches
    from tfsr.evaluation import evaluate
    from tfsr.inference import upscaler
    from tfsr.models import load_model
    from tfsr.models.complexity import count_params, flops_per_lr_pixel
    from tfsr.models.presets import get_preset

    run = Path(args.run)
    preset = get_preset(args.name or run.name)
    best = json.loads((run / "best.json").read_text())
    model = load_model(run / "best.keras")
    scale = preset.scale
    out = Path(args.output)
    keras_file = out / f"{preset.name}.keras"
    with atomic_output(keras_file) as tmp:
        shutil.copyfile(run / "best.keras", tmp)

    report = {"preset": preset.name, "run": str(run), "step": best["step"], "parameters": count_params(model),
              "mflops_per_lr_pixel": flops_per_lr_pixel(model) / 1e6,
              "training_hours": round(training_hours(run / "metrics.csv"), 2)}
    if preset.inputs == "bicubic":
        report["published_291_images"] = {name: {"set5_psnr": set5, "set14_psnr": set14}
                                          for name, (set5, set14) in PUBLISHED[scale].items()}
    sr = upscaler(model, scale, backend="function")
    protocols = [None] + [spec for spec in dict.fromkeys(args.score_degradations + [preset.inputs]) if spec != "bicubic"]
    for spec in protocols:
        chain = degradation(spec) if spec else None
        for name in ("set5", "set14"):
            data = resolve(name, scale, split="valid", data_dir=args.data_dir).degraded(chain)
            scored = evaluate(data, sr, progress=False, metrics=METRICS)
            bicubic = evaluate(data, lambda lr: bicubic_upscale(lr, scale), progress=False, metrics=METRICS)
            scores = {"psnr": scored.psnr, "ssim": scored.ssim, "niqe": scored.mean("niqe"),
                      "bicubic_psnr": bicubic.psnr, "bicubic_ssim": bicubic.ssim, "bicubic_niqe": bicubic.mean("niqe"),
                      "convention": scored.convention, "input": scored.input}
            if spec:
                report.setdefault("degraded", {}).setdefault(spec, {})[name] = scores
            else:
                report[name] = scores
            print(f"{preset.name} {data.name} x{scale} {spec or 'clean'}: {scored.psnr:.2f} dB / {scored.ssim:.4f}  "
                  f"(bicubic {bicubic.psnr:.2f} / {bicubic.ssim:.4f})", flush=True)
    with atomic_output(f"{keras_file}.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2))

    own = degradation(preset.inputs)
    set5 = resolve("set5", scale, split="valid", data_dir=args.data_dir).degraded(own)
    set14 = resolve("set14", scale, split="valid", data_dir=args.data_dir).degraded(own)
    source = resolve(args.calibration, scale, split="train").degraded(own)
    calibration = calibration_patches(source, 200, 64)
    provenance = {"dataset": source.name, "input": source.describe_input(), "patches": 200, "patch_size": 64,
                  "qat_steps": args.qat_steps, "qat_lr": 1e-5 if args.qat_steps else None}
    converted = None
    if args.qat_steps:
        from tfsr.deploy.quantization import qat_int8
        images = [source.load(i)[0] for i in range(len(source))]
        converted = qat_int8(model, calibration, images, args.qat_steps)
    for quantize, extra in (("float16", {}), ("int8", {"calibration": calibration, "converted": converted,
                                                        "max_psnr_drop": args.max_int8_drop,
                                                        "calibration_info": provenance})):
        path = out / f"{preset.name}_{quantize}.tflite"
        try:
            exported = export_tflite(model, scale, path, quantize, verify_on=set5, metadata=True, name=preset.name,
                                     held_out=set14, **extra)
        except ExportError as e:
            raise cli.UserError(str(e)) from None
        print(f"{path}: {exported['exported']['psnr']:.3f} dB on {set5.describe_input()} Set5 "
              f"(drop {exported['psnr_drop']:+.3f}, SSIM {exported['ssim_drop']:+.4f}, NIQE "
              f"{exported['niqe_change']:+.3f}; Set14 drop {exported['held_out']['psnr_drop']:+.3f}, NIQE "
              f"{exported['held_out']['niqe_change']:+.3f}), {exported['size_bytes'] / 1e6:.2f} MB", flush=True)
    finish(run)
    return 0


def finish(run):
    """A run at the end of its schedule keeps config.json, metrics.csv and best.json, not its checkpoint.

    (The repository grows by a checkpoint with every commit of a running run; a finished one needs none.)
    """
    config = json.loads((run / "config.json").read_text())
    state = run / "checkpoint.json"
    if state.exists() and config.get("steps") and json.loads(state.read_text())["step"] >= config["steps"]:
        for name in ("checkpoint.weights.h5", "checkpoint.json"):
            (run / name).unlink(missing_ok=True)
        print(f"{run}: finished at step {config['steps']:,}; its checkpoint is removed (config, metrics and best "
              f"stay)")


if __name__ == "__main__":
    sys.exit(cli.run(main))
