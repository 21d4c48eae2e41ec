"""Export a tfsr model to TFLite (float32, float16, dynamic-range, full-integer int8 or int16x8), verified first.

    python tools/export_tflite.py best.keras wdsr_b_x4_int8.tflite --quantize int8 \
        --calibration ../shared/data/train
    python tools/export_tflite.py best.keras wdsr_b_x4_fp32.tflite --input-size 128x128 --metadata

int8 is full-integer post-training quantization (TFLITE_BUILTINS_INT8, uint8
input and output in [0, 255]) calibrated on random LR patches of real images;
int16x8 keeps int8 weights but int16 activations (float input and output), for
nearly float quality at the int8 size (docs/int8.md). --qat-steps N first
fine-tunes the int8 graph (quantization-aware, tfsr.quantization) on the
calibration images and converts with the trained ranges.
Every export is scored against the Keras model it came from; the report is
printed and saved as OUT.tflite.json, and nothing is written when the PSNR
drop exceeds --max-psnr-drop.
"""
import sys

from tfsr import cli


def build_parser():
    p = cli.parser(__doc__.splitlines()[0], "python tools/export_tflite.py")
    p.add_argument("model", help="a tfsr .keras model")
    p.add_argument("output", help="the .tflite file to write")
    p.add_argument("--quantize", default="float32", choices=["float32", "float16", "dynamic", "int8", "int16x8"],
                   help="weights/activations precision")
    p.add_argument("--scale", type=int, help="the scale to export from a multi-scale (MDSR) model")
    p.add_argument("--calibration", default="sample",
                   help="int8/int16x8 calibration images: sample, div2k, a benchmark name or a folder")
    p.add_argument("--num-calibration", type=int, default=200, help="random LR patches used for calibration")
    p.add_argument("--calibration-size", type=int, default=64, help="LR calibration patch size")
    p.add_argument("--input-size", type=cli.size, metavar="HxW",
                   help="bake a fixed LR input size (GPU/NNAPI delegates prefer it); default dynamic")
    p.add_argument("--metadata", action="store_true", help="embed name, scale, input range and normalisation")
    p.add_argument("--verify-data", default="sample",
                   help="images to verify on: sample, set5/set14/... under --data-dir, or a folder")
    p.add_argument("--data-dir", help="root of the datasets")
    p.add_argument("--qat-steps", type=int, default=0,
                   help="int8: quantization-aware fine-tuning steps on the calibration images before converting "
                        "(0: post-training quantization only)")
    p.add_argument("--qat-lr", type=float, default=1e-5, help="learning rate of the fine-tuning")
    p.add_argument("--max-psnr-drop", type=float,
                   help="refuse the export above this PSNR loss in dB (default 0.1 for int8 and int16x8, 0.01 otherwise)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from tfsr.data import resolve
    from tfsr.export import CALIBRATED, export_tflite
    from tfsr.inference import for_scale, load_model
    from tfsr.verify import calibration_patches

    model, scale = for_scale(load_model(args.model), args.scale, args.model)
    calibration = None
    if args.quantize in CALIBRATED:
        source = resolve(args.calibration, scale, split="train", data_dir=args.data_dir)
        calibration = calibration_patches(source, args.num_calibration, args.calibration_size)
    verify_on = resolve(args.verify_data, scale, split="valid", data_dir=args.data_dir)
    converted = None
    if args.qat_steps:
        if args.quantize != "int8":
            raise cli.UserError("--qat-steps fine-tunes for --quantize int8")
        from tfsr.quantization import qat_int8
        images = [source.load(i)[0] for i in range(len(source))]
        converted = qat_int8(model, calibration, images, args.qat_steps, args.qat_lr, args.input_size)
    cli.run_export(lambda: export_tflite(model, scale, args.output, args.quantize, calibration, args.input_size,
                                         verify_on, args.max_psnr_drop, args.metadata, converted=converted),
                   args.output)


if __name__ == "__main__":
    sys.exit(cli.run(main))
