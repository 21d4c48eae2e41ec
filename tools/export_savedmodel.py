"""Export a tfsr model as a SavedModel, verified against the Keras model before it is written.

    python tools/export_savedmodel.py runs/wdsr_b_x4/best.keras saved_models/wdsr_b_x4

Signatures (loadable with tf.saved_model.load, no tfsr needed):
  serving_default: uint8 RGB batch (N, H, W, 3) -> {"sr": uint8 (N, sH, sW, 3)}
  float32:         float32 RGB in [0, 255]      -> {"sr": float32, unrounded}
"""
import sys

from tfsr import cli


def build_parser():
    p = cli.parser(__doc__.splitlines()[0], "python tools/export_savedmodel.py")
    p.add_argument("model", help="a tfsr .keras model")
    p.add_argument("output", help="the SavedModel folder to write")
    p.add_argument("--scale", type=int, help="the scale to export from a multi-scale (MDSR) model")
    p.add_argument("--verify-data", default="sample",
                   help="images to verify on: sample, set5/set14/... under --data-dir, or a folder")
    p.add_argument("--data-dir", help="root of the benchmark sets")
    p.add_argument("--max-psnr-drop", type=float, default=0.01, help="refuse the export above this PSNR loss (dB)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from tfsr.data import resolve
    from tfsr.export import export_savedmodel
    from tfsr.inference import for_scale, load_model

    model, scale = for_scale(load_model(args.model), args.scale, args.model)
    verify_on = resolve(args.verify_data, scale, split="valid", data_dir=args.data_dir)
    cli.run_export(lambda: export_savedmodel(model, scale, args.output, verify_on, args.max_psnr_drop), args.output)


if __name__ == "__main__":
    sys.exit(cli.run(main))
