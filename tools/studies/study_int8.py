"""How much PSNR does int8 cost, and what wins it back? A study of post-training quantization.

    python tools/studies/study_int8.py MODEL.keras --calibration ../shared/data/train --verify set5 \\
        --data-dir ../shared/data/benchmark --json docs/int8/wdsr_b.json

Every variant is scored with the LiteRT interpreter on the verification set
(benchmark convention) against the float Keras model:

  naive        full-int8 PTQ of the plain graph (weight norm folded, de-normalisation
               left as its own ops), 40 random 64x64 crops of the first 20 calibration images
  folded       the export graph (output de-normalisation folded into the last
               convolutions, output clipped to [0, 255]) calibrated by the converter,
               the same 40 crops
  folded+      the same, 200 random 64x64 crops spread over all calibration images
  fq           the fake-quantized export graph (tfsr.deploy.quantization), its ranges calibrated
               on the 200 crops, the output sum's range [0, 255], converted with those ranges
  rewritten    tfsr's --quantize int8: fq on the int8 graph (tfsr.deploy.int8_graph: compensated
               residual stream, integer input offset)
  clipped-p    folded+, each activation range narrowed to its central p % of values
               instead of min/max
  mixed-k      folded+, the k tensors the quantization debugger finds worst left in
               float (not integer-only: for CPU/GPU delegates, not for int8-only NPUs)
  16x8         folded+, int16 activations and int8 weights (DEPTH_TO_SPACE has no
               16x8 kernel and stays float)
  biascorr     rewritten with empirical bias correction: each convolution's bias shifted by
               the mean per-channel error of its int8 version on 34 of the crops, in graph order
  qat          quantization-aware fine-tuning (tfsr.deploy.quantization) of rewritten: weights and
               activation ranges trained to match the float model, converted with the
               trained ranges (it trains: not in the defaults)
  budget       where the int8 loss comes from: the drop with only the weights, only the
               activations, or only one group of tensors quantized (Keras fake quantization,
               int8_budget.quantization_budget)
"""
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np

from tfsr import cli

VARIANTS = ("naive", "folded", "folded+", "fq", "rewritten", "clipped", "mixed", "16x8", "biascorr", "qat", "budget")


def converter_int8(graph, patches):
    """The TFLite converter's own full-integer int8 (min/max of every tensor on ``patches``, uint8 I/O).

    tfsr's exports no longer use it: the output sum keeps its calibrated range
    instead of [0, 255], and the file lost 0.48 dB where the fake-quantized
    graph's lost 0.32 (docs/int8.md).
    """
    import tensorflow as tf

    from tfsr.inference.graph import with_fixed_batch
    converter = tf.lite.TFLiteConverter.from_keras_model(with_fixed_batch(graph))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([p] for p in patches)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    return converter


def per_layer_errors(converter, patches):
    """(tensor name, RMSE / scale) of every quantized tensor, worst first (TFLite quantization debugger)."""
    import tensorflow as tf
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter,
                                                         debug_dataset=lambda: ([p] for p in patches))
    debugger.run()
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    errors = [(r["tensor_name"], float(r["mean_squared_error"]) ** 0.5 / float(r["scale"]))
              for r in rows if r.get("scale") and float(r["scale"]) > 0]
    return sorted(errors, key=lambda item: -item[1])


def clip_ranges(calibrated, patches, percentile, samples_per_patch=8192, seed=0):
    """Narrow every calibrated activation range to its central ``percentile`` % of values.

    ``calibrated`` is the converter's calibrate-only output: a float model
    holding min/max statistics, which is run on ``patches`` to sample each
    tensor's values. The input and the output (the image) keep their range.
    """
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.tools import flatbuffer_utils as fb

    model = fb.read_model_from_bytearray(bytearray(calibrated))
    graph = model.subgraphs[0]
    ranged = [i for i, t in enumerate(graph.tensors)
              if t.quantization is not None and t.quantization.min is not None and len(t.quantization.min) == 1
              and i not in graph.inputs and i not in graph.outputs]
    interpreter = Interpreter(model_content=calibrated, experimental_preserve_all_tensors=True)
    rng = np.random.default_rng(seed)
    values = {i: [] for i in ranged}
    for patch in patches:
        interpreter.resize_tensor_input(graph.inputs[0], patch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(graph.inputs[0], patch)
        interpreter.invoke()
        for i in ranged:
            flat = interpreter.get_tensor(i).ravel()
            values[i].append(rng.choice(flat, min(samples_per_patch, flat.size), replace=False))
    tail = (100.0 - percentile) / 2
    for i in ranged:
        low, high = np.percentile(np.concatenate(values[i]), [tail, 100.0 - tail])
        stats = graph.tensors[i].quantization
        stats.min = [float(max(stats.min[0], min(low, 0.0)))]
        stats.max = [float(min(stats.max[0], max(high, 0.0)))]
    return bytes(fb.convert_object_to_bytearray(model))


def main():
    p = cli.parser(__doc__.splitlines()[0], "python tools/studies/study_int8.py")
    p.add_argument("model", help="a single-scale tfsr .keras model")
    p.add_argument("--calibration", required=True, help="calibration images (folder or dataset name)")
    p.add_argument("--verify", default="set5", help="verification set (benchmark name or folder)")
    p.add_argument("--data-dir", help="root of the benchmark sets")
    p.add_argument("--percentiles", type=float, nargs="*", default=[99.99, 99.9],
                   help="p values for the clipped variants")
    p.add_argument("--mixed", type=int, nargs="*", default=[1, 3], help="k values for the mixed variants")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS[:9]), help="what to run")
    p.add_argument("--qat-steps", type=int, default=500, help="quantization-aware fine-tuning steps (batch 16)")
    p.add_argument("--qat-lr", type=float, default=1e-5, help="quantization-aware fine-tuning learning rate")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()

    import tensorflow as tf
    from tensorflow.lite.python.convert import mlir_quantize

    from tfsr.data import resolve
    from tfsr.deploy.export import to_tflite
    from tfsr.deploy.verify import calibration_patches, compare_predictor
    from tfsr.inference import LiteRTPredictor
    from tfsr.inference.graph import deployable, quiet_conversion
    from tfsr.layers import fold_weight_norm
    from tfsr.models import for_scale, load_model

    model, scale = for_scale(load_model(args.model), None, args.model)
    verify_on = resolve(args.verify, scale, split="valid", data_dir=args.data_dir)
    source = resolve(args.calibration, scale)
    first = type(source)(source.name, scale, source.pairs[:20])
    few = calibration_patches(first, count=40, size=64, seed=0)
    many = calibration_patches(source, count=200, size=64, seed=1)

    def float_io_int8():
        """The export graph's int8 converter with float ops and float I/O allowed (for the debugger)."""
        result = converter_int8(deployable(model), many)
        result.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        result.inference_input_type = result.inference_output_type = tf.float32
        return result

    def convert(conv):
        with quiet_conversion():
            return conv.convert()

    rows = []

    def score(name, tflite):
        report = compare_predictor(model, scale, LiteRTPredictor(tflite), verify_on)
        row = {"variant": name, "size_bytes": len(tflite), "float_psnr": report["keras"]["psnr"],
               "psnr": report["exported"]["psnr"], "drop_db": report["psnr_drop"],
               "ssim": report["exported"]["ssim"], "max_pixel_difference": report["max_pixel_difference"],
               "psnr_to_keras": report["psnr_to_keras"]}
        print(f"{name:<28} {row['psnr']:7.3f} dB  (float {row['float_psnr']:.3f}, drop {row['drop_db']:+.3f}, "
              f"{row['psnr_to_keras']:.1f} dB to float)  "
              f"{len(tflite) / 1e6:.2f} MB", flush=True)
        rows.append(row)

    print(f"{args.model}: x{scale}, verification {verify_on.name} ({len(verify_on)} images)")
    score("float32", to_tflite(model))
    if "naive" in args.variants:
        score("naive (40 crops)", convert(converter_int8(fold_weight_norm(model), few)))
    if "folded" in args.variants:
        score("folded (40 crops)", convert(converter_int8(deployable(model), few)))
    if "folded+" in args.variants:
        score("folded+ (200 crops)", convert(converter_int8(deployable(model), many)))
    if "fq" in args.variants:
        from tfsr.deploy.quantization import quantized_graph, to_int8
        score("fq (fake-quantized graph, 200 crops)", to_int8(quantized_graph(model, many, rewrite=False)[1]))
    if "rewritten" in args.variants:
        score("rewritten (the int8 graph, 200 crops)", to_tflite(model, many))
    for percentile in args.percentiles if "clipped" in args.variants else []:
        calibrate = converter_int8(deployable(model), many)
        calibrate._experimental_calibrate_only = True
        clipped = clip_ranges(convert(calibrate), many, percentile)
        score(f"clipped-{percentile:g}", mlir_quantize(clipped, input_data_type=tf.uint8, output_data_type=tf.uint8))
    errors = []
    if "mixed" in args.variants:
        with quiet_conversion():
            errors = per_layer_errors(float_io_int8(), few)
        print("worst tensors (RMSE / scale):", ", ".join(f"{n.split(';')[0]} {e:.2f}" for n, e in errors[:5]))
        for k in args.mixed:
            options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=[n for n, _ in errors[:k]])
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=float_io_int8(),
                debug_dataset=lambda: ([q] for q in few), debug_options=options)
            with quiet_conversion():
                mixed = debugger.get_nondebug_quantized_model()
            score(f"mixed-{k} (float for worst {k})", mixed)
    if "16x8" in args.variants:
        score("16x8 (int16 activations)", to_tflite(model, "int16x8", calibration=many))
    if "biascorr" in args.variants:
        from int8_budget import correct_biases

        from tfsr.deploy.quantization import quantized_graph, to_int8
        _, quantized = quantized_graph(model, many)
        shifts = correct_biases(model, quantized, many[::6])
        print(f"bias correction: largest shift {max(shifts.values()):.3f} in {max(shifts, key=shifts.get)}")
        score("biascorr (rewritten + bias correction)", to_int8(quantized))
    if "qat" in args.variants:
        import time

        from tfsr.deploy.quantization import fine_tune, quantized_graph, to_int8
        images = [source.load(i)[0] for i in range(len(source))]
        _, quantized = quantized_graph(model, many)
        started = time.perf_counter()
        losses = fine_tune(model, quantized, images, args.qat_steps, args.qat_lr)
        minutes = (time.perf_counter() - started) / 60
        print(f"fine-tuning: {args.qat_steps} steps in {minutes:.1f} min, MSE to float {losses[0]:.3f} -> "
              f"{np.mean(losses[-20:]):.3f}")
        score(f"qat ({args.qat_steps} steps, lr {args.qat_lr:g}, trained ranges)", to_int8(quantized))
    budget = []
    if "budget" in args.variants:
        from int8_budget import quantization_budget
        budget = quantization_budget(model, many, verify_on)
        for row in budget:
            print(f"quantized: {row['part']:<34} {row['psnr']:7.3f} dB  drop {row['drop']:+.3f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"model": args.model, "scale": scale, "verify": verify_on.name,
                                               "worst_tensors": errors[:10], "variants": rows, "budget": budget}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
