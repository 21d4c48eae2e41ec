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
  the model's own LiteRT time on the same images;
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


def folder(work, count, size):
    import keras

    from tfsr.data.images import write_image
    from tfsr.inference.convert import tflite_float32
    from tfsr.inference.runtime import LiteRTPredictor, Upscaler
    from tfsr.models import build
    from tfsr.upscale import upscale_files
    keras.utils.set_random_seed(0)
    path = work / "edsr.tflite"
    path.write_bytes(tflite_float32(build("edsr_baseline", 4)))
    rng = np.random.default_rng(1)
    images = [smooth_image(rng, size, size) for _ in range(count)]
    for i, image in enumerate(images):
        write_image(work / "in" / f"{i:03d}.png", image)
    predictor, scale = LiteRTPredictor.from_file(path)
    predictor(images[0][None].astype(np.float32))  # allocate
    model = []
    for image in images:
        started = time.perf_counter()
        predictor(image[None].astype(np.float32))
        model.append(time.perf_counter() - started)
    upscaler = Upscaler(predictor, scale, tile=256, overlap=16)
    files = sorted((work / "in").iterdir())
    end_to_end = {}
    for level in (1, 6):
        started = time.perf_counter()
        done, errors = upscale_files(files, upscaler, work / f"out{level}", png_level=level)
        end_to_end[level] = (time.perf_counter() - started) / len(done)
        assert not errors
    model_ms = 1000 * statistics.mean(model)  # the same statistic as the folder's: total time / images
    return {"images": count, "lr_size": size, "model_ms_mean": model_ms,
            "upscale_files_ms_per_image": {f"png_level_{k}": 1000 * v for k, v in end_to_end.items()},
            "ratio_to_model": {f"png_level_{k}": 1000 * v / model_ms for k, v in end_to_end.items()}}


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
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results = {"cpu_threads": os.cpu_count(), "startup": startup(work, args.repeat),
                   "folder": folder(work, args.images, args.size), "png_512x512": png_levels(work, args.repeat)}
    s = results["startup"]
    print(f"start-up, one 128x128 image, WDSR-B x4 (whole process, s): preset .tflite "
          f"{', '.join(f'{t:.2f}' for t in s['preset_tflite_s'])}; .keras first call {s['keras_first_call_s']:.2f}, "
          f"cached {', '.join(f'{t:.2f}' for t in s['keras_cached_s'])}; imports "
          f"{', '.join(f'{t:.2f}' for t in s['import_s'])}")
    f = results["folder"]
    print(f"folder, EDSR-baseline x4, {f['images']} images {f['lr_size']}x{f['lr_size']}: model "
          f"{f['model_ms_mean']:.1f} ms/image; upscale_files " + ", ".join(
              f"{k} {v:.1f} ms ({f['ratio_to_model'][k]:.2f}x)" for k, v in f["upscale_files_ms_per_image"].items()))
    print("PNG 512x512: " + ", ".join(f"level {k}: {v['ms']:.1f} ms {v['kb']:.0f} KB"
                                      for k, v in results["png_512x512"].items()))
    if args.json:
        from tfsr.data.images import atomic_output
        with atomic_output(args.json) as out:
            out.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
