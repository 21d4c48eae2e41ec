"""python -m tfsr.export: a model as a SavedModel folder or a TFLite file, verified before it is written.

    python -m tfsr.export best.keras wdsr_b_x4/                                   # SavedModel
    python -m tfsr.export best.keras wdsr_b_x4_int8.tflite --quantize int8 --calibration ../shared/data/train
    python -m tfsr.export wdsr_b_x4 wdsr_b_x4_fp32.tflite --input-size 128x128 --metadata

The output's name decides the format: ``.tflite`` is TFLite (float32,
float16, dynamic-range, full-integer int8 with uint8 I/O, or int16x8),
anything else a SavedModel folder (``serving_default``: uint8 -> uint8;
``float32``: the unrounded float image; loads without tfsr). int8 ranges
are calibrated on random LR patches of real images, and ``--qat-steps N``
first fine-tunes the int8 graph on them (docs/int8.md). Every export is
scored against the model it came from; the report is printed and saved as
``OUT.json``, and nothing is written when the PSNR drop exceeds
``--max-psnr-drop``.
"""
from tfsr import cli


def build_parser():
    p = cli.parser(__doc__.splitlines()[0], cli.program("tfsr.export"))
    p.add_argument("model", help="a preset (e.g. wdsr_b_x4), a .keras file or a SavedModel folder")
    p.add_argument("output", help="a .tflite file, or a folder for a SavedModel")
    p.add_argument("--quantize", default="float32", choices=["float32", "float16", "dynamic", "int8", "int16x8"],
                   help="TFLite weights/activations precision")
    p.add_argument("--scale", type=int, help="the scale to export from a multi-scale (MDSR) model")
    p.add_argument("--strength", type=float, metavar="S",
                   help="a preset with a fidelity partner (wdsr_b_x4_gan) at this strength: the two blended into "
                        "one network and file (1: the preset's .keras network, 0: its partner; default: the "
                        "preset's default strength, as its shipped files)")
    p.add_argument("--calibration", default="sample",
                   help="int8/int16x8 calibration images: sample (bundled), div2k, a benchmark name or a folder")
    p.add_argument("--calibration-degradation", metavar="CHAIN",
                   help="degrade the calibration (and fine-tuning) LR images by this chain, one fixed draw per "
                        "image: the inputs a model for real photos will see (tfsr.data.degradations; default: "
                        "a preset's own chain, e.g. photo for wdsr_b_x4_real, else bicubic)")
    p.add_argument("--num-calibration", type=int, default=200, help="random LR patches used for calibration")
    p.add_argument("--calibration-size", type=int, default=64, help="LR calibration patch size")
    p.add_argument("--input-size", type=cli.size, metavar="HxW",
                   help="bake a fixed LR input size (GPU/NNAPI delegates prefer it); default dynamic")
    p.add_argument("--metadata", action="store_true", help="embed name, scale, input range and normalisation")
    p.add_argument("--verify-data", default="sample",
                   help="images to verify on: sample, set5/set14/... under --data-dir, or a folder")
    p.add_argument("--verify-degradation", metavar="CHAIN",
                   help="degrade the verification LR images by this chain (seed 0), e.g. jpeg:75 (default: a "
                        "preset's own chain, else bicubic)")
    p.add_argument("--held-out", metavar="DATASET",
                   help="also score the export on this set (e.g. set14) and record its drop in the report")
    p.add_argument("--data-dir", help="root of the datasets")
    p.add_argument("--qat-steps", type=int, default=0,
                   help="int8: quantization-aware fine-tuning steps on the calibration images before converting "
                        "(0: post-training quantization only)")
    p.add_argument("--qat-lr", type=float, default=1e-5, help="learning rate of the fine-tuning")
    p.add_argument("--max-psnr-drop", type=float,
                   help="refuse the export above this PSNR loss in dB (default 0.1 for int8 and int16x8, "
                        "0.01 otherwise)")
    return p


def input_chains(args):
    """(verification chain, calibration chain): as given, else the preset's own inputs, else bicubic.

    A preset for real photos is calibrated and verified on the inputs it was trained for, as its shipped
    files were (tools/ship_zoo_model.py), so the README's export command reproduces them.
    """
    from tfsr.models.presets import get_preset, is_preset
    own = get_preset(args.model).inputs if is_preset(args.model) else "bicubic"
    return args.verify_degradation or own, args.calibration_degradation or own


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.check_inputs(models=[args.model], datasets=[args.verify_data, args.calibration])
    from tfsr.data import resolve
    from tfsr.data.degradation_options import DegradationError
    from tfsr.data.degradations import degradation
    from tfsr.deploy.export import CALIBRATED, export_savedmodel, export_tflite
    from tfsr.deploy.verify import calibration_patches
    from tfsr.models import for_scale, load_model

    try:
        verify_chain, calibration_chain = map(degradation, input_chains(args))
    except DegradationError as e:
        raise cli.UserError(str(e)) from None
    from tfsr.models.presets import get_preset, is_preset
    recipe = None
    if args.strength is not None or (is_preset(args.model) and get_preset(args.model).partner):
        from tfsr.errors import ModelError
        from tfsr.inference.files import strength_of
        from tfsr.models.loading import pretrained
        try:
            strength = strength_of(args.model, args.strength)
        except ModelError as e:
            raise cli.UserError(str(e)) from None
        model = pretrained(args.model, strength)
        recipe = {"strength": {"preset": args.model, "partner": get_preset(args.model).partner, "strength": strength}}
    else:
        model = load_model(args.model)
    model, scale = for_scale(model, args.scale, args.model)
    verify_on = resolve(args.verify_data, scale, split="valid", data_dir=args.data_dir).degraded(verify_chain)
    held_out = None
    if args.held_out:
        held_out = resolve(args.held_out, scale, split="valid", data_dir=args.data_dir).degraded(verify_chain)
    if not args.output.endswith(".tflite"):
        if args.quantize != "float32" or args.qat_steps or args.input_size:
            raise cli.UserError(f"{args.output}: a SavedModel is float32 with a dynamic size; --quantize, "
                                f"--qat-steps and --input-size are for .tflite outputs")
        cli.run_export(lambda: export_savedmodel(model, scale, args.output, verify_on, args.max_psnr_drop or 0.01,
                                                 held_out=held_out, recipe=recipe), args.output)
        return
    calibration = converted = provenance = None
    if args.quantize in CALIBRATED:
        source = resolve(args.calibration, scale, split="train", data_dir=args.data_dir).degraded(calibration_chain)
        calibration = calibration_patches(source, args.num_calibration, args.calibration_size)
        provenance = {"dataset": source.name, "input": source.describe_input(), "patches": args.num_calibration,
                      "patch_size": args.calibration_size, "qat_steps": args.qat_steps,
                      "qat_lr": args.qat_lr if args.qat_steps else None}
    if args.qat_steps:
        if args.quantize != "int8":
            raise cli.UserError("--qat-steps fine-tunes for --quantize int8")
        from tfsr.deploy.quantization import qat_int8
        images = [source.load(i)[0] for i in range(len(source))]
        converted = qat_int8(model, calibration, images, args.qat_steps, args.qat_lr, args.input_size)
    cli.run_export(lambda: export_tflite(model, scale, args.output, args.quantize, calibration, args.input_size,
                                         verify_on, args.max_psnr_drop, args.metadata, converted=converted,
                                         calibration_info=provenance, held_out=held_out, recipe=recipe),
                   args.output)


console = cli.entry_point(main)  # the tfsr-export console script: exactly `python -m tfsr.export`

if __name__ == "__main__":
    raise SystemExit(console())
