"""How much PSNR does int8 cost, and what wins it back? A study of post-training quantization.

    python tools/study_int8.py MODEL.keras --calibration ../shared/data/train --verify set5 \\
        --data-dir ../shared/data/benchmark --json docs/int8/wdsr_b.json

Every variant is scored with the LiteRT interpreter on the verification set
(benchmark convention) against the float Keras model:

  naive      full-int8 PTQ of the plain graph (weight norm folded, de-normalisation
             left as its own ops), 40 random 64x64 crops of the first calibration images
  folded     tfsr's export graph (output de-normalisation folded into the last
             convolutions, output clipped to [0, 255]), same 40 crops
  folded+    the export graph, 200 random 64x64 crops spread over all calibration images
  mixed-k    folded+, with the k layers the quantization debugger finds worst left in
             float (not integer-only: for CPU/GPU delegates, not for int8-only NPUs)
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np


def per_layer_errors(converter_factory, patches):
    """Quantization error per tensor (RMSE / scale) from the TFLite quantization debugger."""
    import io

    import tensorflow as tf
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter_factory(), debug_dataset=lambda: ([p] for p in patches))
    debugger.run()
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    import csv
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    return sorted(((r["tensor_name"], float(r["rmse/scale"])) for r in rows if r.get("rmse/scale")),
                  key=lambda item: -item[1]), debugger


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", help="a single-scale tfsr .keras model")
    p.add_argument("--calibration", required=True, help="calibration images (folder or dataset name)")
    p.add_argument("--verify", default="set5", help="verification set (benchmark name or folder)")
    p.add_argument("--data-dir", help="root of the benchmark sets")
    p.add_argument("--mixed", type=int, nargs="*", default=[1, 3], help="k values for the mixed variants")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()

    import tensorflow as tf

    from tfsr.data import resolve
    from tfsr.export import quiet_stdout, deployable, to_tflite, with_fixed_batch
    from tfsr.inference import LiteRTPredictor, for_scale, load_model
    from tfsr.layers import fold_weight_norm
    from tfsr.verify import calibration_patches, compare_predictor

    model, scale = for_scale(load_model(args.model), None, args.model)
    verify_on = resolve(args.verify, scale, split="valid", data_dir=args.data_dir)
    source = resolve(args.calibration, scale)
    first = type(source)(source.name, scale, source.pairs[:20])
    few = calibration_patches(first, count=40, size=64, seed=0)
    many = calibration_patches(source, count=200, size=64, seed=1)

    def int8_converter(graph, patches, integer_only=True):
        converter = tf.lite.TFLiteConverter.from_keras_model(with_fixed_batch(graph))
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([q] for q in patches)
        if integer_only:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.uint8
            converter.inference_output_type = tf.uint8
        return converter

    def score(name, tflite):
        report = compare_predictor(model, scale, LiteRTPredictor(tflite), verify_on)
        row = {"variant": name, "size_bytes": len(tflite), "float_psnr": report["keras"]["psnr"],
               "int8_psnr": report["exported"]["psnr"], "drop_db": report["psnr_drop"],
               "int8_ssim": report["exported"]["ssim"], "max_pixel_difference": report["max_pixel_difference"]}
        print(f"{name:<28} {row['int8_psnr']:7.2f} dB  (float {row['float_psnr']:.2f}, drop {row['drop_db']:+.2f})  "
              f"{len(tflite) / 1e6:.2f} MB", flush=True)
        return row

    print(f"{args.model}: x{scale}, verification {verify_on.name} ({verify_on.name} {len(verify_on)} images)")
    rows = [score("float32", to_tflite(model))]
    with quiet_stdout():
        rows.append(score("naive (40 crops)", int8_converter(fold_weight_norm(model), few).convert()))
    rows.append(score("folded (40 crops)", to_tflite(model, "int8", calibration=few)))
    rows.append(score("folded+ (200 crops)", to_tflite(model, "int8", calibration=many)))
    errors, _ = per_layer_errors(lambda: int8_converter(deployable(model), many, integer_only=False), many)
    print("worst tensors (RMSE / scale):", ", ".join(f"{n} {e:.2f}" for n, e in errors[:5]))
    for k in args.mixed:
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=[n for n, _ in errors[:k]])
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=int8_converter(deployable(model), many, integer_only=False),
            debug_dataset=lambda: ([q] for q in many), debug_options=options)
        with quiet_stdout():
            rows.append(score(f"mixed-{k} (float for worst {k})", debugger.get_nondebug_quantized_model()))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"model": args.model, "scale": scale, "verify": verify_on.name,
                                               "worst_tensors": errors[:10], "variants": rows}, indent=2))
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    sys.exit(main())
