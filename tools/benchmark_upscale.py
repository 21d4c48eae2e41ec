"""How fast tfsr.upscale feels: start-up, folder throughput against the model's own time, PNG levels.

    python tools/benchmark_upscale.py --json docs/benchmarks/upscale_speed.json

Run it on a quiet machine (nothing else training). Three measurements:

* start-up: whole-process wall time of ``python -m tfsr.upscale`` on one
  128x128 image with the shipped WDSR-B x4 (the preset's .tflite), and with
  ``--model saved_models/wdsr_b_x4.keras`` on an empty conversion cache
  (first call converts, second runs the cached .tflite), plus the import
  time of the upscaler's modules;
* folder: EDSR-baseline x4 (random weights) on 128x128 LR images, per-image
  time of `tfsr.upscale.upscale_files` (read, tiles, PNG write; total / images) against
  the model's own LiteRT time on the same images (the overhead), for its float32
  file and an int8 file of the same network, beside PyTorch running the same
  network (model time only, ``torch.inference_mode``, all threads) and beside
  the FLOP floor: the network's convolution FLOPs over this CPU's measured FMA
  peak (`tools/benchmark_inference.py`);
* PNG: encode time and file size of a 512x512 result per zlib level.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tfsr import cli

ROOT = Path(__file__).resolve().parents[1]


def smooth_image(rng, h, w):
    from PIL import Image
    small = rng.uniform(0, 255, (h // 8, w // 8, 3)).astype(np.uint8)
    image = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC), np.float64)
    return np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)


def wall(command, env=None):
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - started


def startup(work, repeat):
    from tfsr.data.images import write_image
    image = work / "one.png"
    write_image(image, smooth_image(np.random.default_rng(0), 128, 128))
    upscale = [sys.executable, "-m", "tfsr.upscale", str(image), "--output", str(work / "out")]
    preset = [wall(upscale) for _ in range(repeat)]
    keras_model = str(ROOT / "saved_models" / "wdsr_b_x4.keras")
    cache = {"TFSR_CACHE": str(work / "cache")}
    first = wall(upscale + ["--model", keras_model], cache)
    cached = [wall(upscale + ["--model", keras_model], cache) for _ in range(repeat)]
    imports = [float(subprocess.run(
        [sys.executable, "-c", "import time; t = time.perf_counter(); import tfsr.upscale, tfsr.inference.files, "
                               "ai_edge_litert.interpreter; print(time.perf_counter() - t)"],
        check=True, capture_output=True, text=True).stdout) for _ in range(repeat)]
    return {"preset_tflite_s": preset, "keras_first_call_s": first, "keras_cached_s": cached,
            "import_s": imports}


def _model_ms(predict, images):
    """Mean milliseconds of ``predict`` per image (each run once, after one warm-up)."""
    predict(images[0][None].astype(np.float32))
    times = []
    for image in images:
        started = time.perf_counter()
        predict(image[None].astype(np.float32))
        times.append(time.perf_counter() - started)
    return 1000 * statistics.mean(times)  # the same statistic as the folder's: total time / images


def torch_ms(images, threads):
    """PyTorch's milliseconds per image for EDSR-baseline x4 on ``images`` (None without torch)."""
    try:
        import torch
    except ImportError:
        return None
    sys.path.insert(0, str(ROOT / "tools"))
    import torch_reference
    torch.set_num_threads(threads)
    model = torch_reference.EDSR(4).eval()

    def predict(x):
        with torch.inference_mode():
            return model(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    return _model_ms(predict, images)


def folder(work, count, size, threads):
    import keras

    from tfsr.data.images import write_image
    from tfsr.deploy.export import to_tflite
    from tfsr.inference.convert import tflite_float32
    from tfsr.inference.runtime import LiteRTPredictor, Upscaler
    from tfsr.models import build
    from tfsr.models.complexity import flops_per_lr_pixel
    from tfsr.upscale import upscale_files
    keras.utils.set_random_seed(0)
    model = build("edsr_baseline", 4)
    rng = np.random.default_rng(1)
    images = [smooth_image(rng, size, size) for _ in range(count)]
    for i, image in enumerate(images):
        write_image(work / "in" / f"{i:03d}.png", image)
    files = sorted((work / "in").iterdir())
    calibration = [image[None, :64, :64].astype(np.float32) for image in images[:8]]
    results = {"images": count, "lr_size": size, "threads": threads,
               "mflops_per_lr_pixel": flops_per_lr_pixel(model) / 1e6}
    for kind, data in (("float32", tflite_float32(model)), ("int8", to_tflite(model, "int8", calibration=calibration))):
        predictor = LiteRTPredictor(data, threads)
        model_ms = _model_ms(predictor, images)
        upscaler = Upscaler(predictor, 4, tile=256, overlap=16)
        started = time.perf_counter()
        done, errors = upscale_files(files, upscaler, work / f"out_{kind}", png_level=1)
        assert not errors
        per_image = 1000 * (time.perf_counter() - started) / len(done)
        results[kind] = {"model_ms": model_ms, "upscale_files_ms": per_image, "overhead": per_image / model_ms}
    results["torch_ms"] = torch_ms(images, threads)
    sys.path.insert(0, str(ROOT / "tools"))
    from benchmark_inference import fma_peak_gflops
    peak = fma_peak_gflops()
    results["fma_peak_gflops"] = peak
    if peak:
        results["flop_floor_ms"] = 1000 * results["mflops_per_lr_pixel"] * 1e6 * size * size / (peak * 1e9)
    return results


def png_levels(work, repeat):
    from PIL import Image
    image = Image.fromarray(smooth_image(np.random.default_rng(2), 512, 512))
    rows = {}
    for level in (0, 1, 3, 6, 9):
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            image.save(work / f"l{level}.png", compress_level=level)
            times.append(time.perf_counter() - started)
        rows[level] = {"ms": 1000 * statistics.median(times), "kb": (work / f"l{level}.png").stat().st_size / 1024}
    return rows


def main():
    p = cli.parser(__doc__.splitlines()[0], "python tools/benchmark_upscale.py")
    p.add_argument("--repeat", type=int, default=3, help="repetitions of each start-up measurement")
    p.add_argument("--images", type=int, default=20, help="images in the folder measurement")
    p.add_argument("--size", type=int, default=128, help="LR side of the folder images")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for LiteRT and PyTorch")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results = {"cpu_threads": os.cpu_count(), "startup": startup(work, args.repeat),
                   "folder": folder(work, args.images, args.size, args.threads),
                   "png_512x512": png_levels(work, args.repeat)}
        from tfsr.inference.cpu import cpu_description
        results["cpu"] = cpu_description()
    s = results["startup"]
    print(f"start-up, one 128x128 image, WDSR-B x4 (whole process, s): preset .tflite "
          f"{', '.join(f'{t:.2f}' for t in s['preset_tflite_s'])}; .keras first call {s['keras_first_call_s']:.2f}, "
          f"cached {', '.join(f'{t:.2f}' for t in s['keras_cached_s'])}; imports "
          f"{', '.join(f'{t:.2f}' for t in s['import_s'])}")
    f = results["folder"]
    print(f"folder, EDSR-baseline x4 ({f['mflops_per_lr_pixel']:.2f} MFLOPs per LR pixel), {f['images']} images "
          f"{f['lr_size']}x{f['lr_size']}, {f['threads']} threads, on {results['cpu']['cpu']} "
          f"({', '.join(results['cpu']['isa'])}):")
    torch = f["torch_ms"]
    for kind in ("float32", "int8"):
        row = f[kind]
        against = f"; PyTorch {torch:.1f} ms, {torch / row['upscale_files_ms']:.2f}x" if torch else ""
        print(f"  {kind}: model {row['model_ms']:.1f} ms, tfsr.upscale {row['upscale_files_ms']:.1f} ms an image "
              f"(overhead {row['overhead']:.2f}x){against}")
    if f.get("flop_floor_ms"):
        print(f"  FLOP floor {f['flop_floor_ms']:.1f} ms ({f['fma_peak_gflops']:.0f} GFLOP/s measured FMA peak)")
    print("PNG 512x512: " + ", ".join(f"level {k}: {v['ms']:.1f} ms {v['kb']:.0f} KB"
                                      for k, v in results["png_512x512"].items()))
    if args.json:
        from tfsr.data.images import atomic_output
        with atomic_output(args.json) as out:
            out.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
