"""python -m tfsr.ship: a trained model as a preset's files, scored and verified: what saved_models/ holds.

    python -m tfsr.ship runs/my_x4 --data-dir ../shared/data/benchmark --calibration ../shared/data/train
    python -m tfsr.ship wdsr_b_x4_real --data-dir ../shared/data/benchmark --calibration ../shared/data/train \\
        --qat-steps 300 --output shipped/      # remakes a shipped preset's files

The model is a run folder (its best.keras; the report adds the step and
training time), a .keras file (made by tfsr.interpolate: the report keeps
the recipe), or a preset. Writes NAME.keras (the model
as it is), NAME.keras.json (Set5 and Set14
PSNR/SSIM/NIQE and bicubic's, on clean LR and on each --score-degradations
protocol), NAME_float16.tflite and NAME_int8.tflite with their reports,
each verified on Set5 before it is written (Set14 is the held-out check).
A preset with a strength slider (a fidelity partner) keeps NAME.keras at
strength 1 and is scored and exported at its default strength.
A model for degraded inputs (--inputs; by default a preset's own chain or
the chain a run validated on) is verified and calibrated on inputs
degraded by that chain. A clean-input x2-x4 model's report lists VDSR's,
DRRN's and MemNet's published PSNR beside its own.
"""
from tfsr import cli


def build_parser():
    p = cli.parser(__doc__.splitlines()[0], cli.program("tfsr.ship"))
    p.add_argument("model", help="a run folder (its best.keras), a single-scale .keras file, or a preset (to remake "
                                 "its files)")
    p.add_argument("--name", help="the preset name the files take (default: the preset's, the run folder's or the "
                                  "file's name)")
    p.add_argument("--inputs", metavar="CHAIN",
                   help="the degradation chain the model is for, e.g. photo (default: a preset's own, the chain a "
                        "run validated on, else bicubic)")
    p.add_argument("--output", default="saved_models", help="the folder the files go to")
    p.add_argument("--data-dir", required=True, help="root of the benchmark sets (Set5, Set14)")
    p.add_argument("--calibration", required=True, help="int8 calibration images: a folder or a dataset name")
    p.add_argument("--qat-steps", type=int, default=0, help="quantization-aware fine-tuning steps for int8")
    p.add_argument("--max-int8-drop", type=float, default=0.2,
                   help="refuse the int8 file above this Set5 PSNR loss (dB)")
    p.add_argument("--max-int8-niqe-change", type=float, metavar="NIQE",
                   help="also refuse the int8 file when Set5's mean NIQE moves by more than this (a perceptual "
                        "preset's limit, e.g. 0.2; the report puts white noise of the file's error beside it)")
    p.add_argument("--score-degradations", nargs="*", default=["jpeg:75", "classical"], metavar="CHAIN",
                   help="degraded protocols (seed 0) scored besides clean LR; the model's own chain is added")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.check_inputs(models=[args.model], datasets=[args.data_dir, args.calibration])
    from pathlib import Path

    from tfsr.data.degradation_options import DegradationError
    from tfsr.data.degradations import degradation
    from tfsr.deploy.export import ExportError
    from tfsr.deploy.ship import blend_report, is_run, run_report, ship
    from tfsr.models.presets import get_preset, is_preset, preset_file

    run = Path(args.model) if is_run(args.model) else None
    preset = get_preset(args.model) if is_preset(args.model) else None
    model_file = run / "best.keras" if run else preset_file(preset.name, "keras") if preset else Path(args.model)
    if not model_file.is_file():
        raise cli.UserError(f"{model_file}: no such model file (nor a run folder with best.keras and best.json)")
    report = run_report(run) if run else blend_report(model_file)
    name = args.name or (preset.name if preset else run.name if run else model_file.stem)
    known = preset or (get_preset(name) if is_preset(name) else None)
    inputs = args.inputs or (known.inputs if known else report["trained_on"] if report else "bicubic")
    try:
        degradation(inputs)
    except DegradationError as e:
        raise cli.UserError(f"--inputs: {e}") from None
    if preset and Path(args.output).resolve() == model_file.parent.resolve() and name == preset.name:
        raise cli.UserError(f"{args.output}: that is where {name}'s shipped files are; choose another --output")
    blend = (preset_file(known.partner, "keras"), known.strength, known.blend) \
        if known and known.partner and known.strength != 1 else None
    try:
        summary = ship(model_file, name, args.output, args.data_dir, args.calibration, inputs, args.qat_steps,
                       args.max_int8_drop, args.score_degradations, report, log=lambda line: print(line, flush=True),
                       max_int8_niqe_change=args.max_int8_niqe_change, blend=blend)
    except ExportError as e:
        raise cli.UserError(str(e)) from None
    print(f"shipped {name} ({summary['parameters']:,} parameters) to {args.output}: Set5 {summary['set5']['psnr']:.2f} "
          f"dB, Set14 {summary['set14']['psnr']:.2f} dB on clean LR")


console = cli.entry_point(main)  # the tfsr-ship console script: exactly `python -m tfsr.ship`

if __name__ == "__main__":
    raise SystemExit(console())
