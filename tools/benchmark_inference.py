"""Inference speed and memory: backends compared, against this CPU's float32 matmul peak.

    python tools/benchmark_inference.py --json docs/benchmarks/inference_speed.json

For edsr_baseline x4 and wdsr_b x4 on a 128x128 and a 510x339 LR input:
milliseconds per image, output megapixels per second and achieved GFLOP/s
(convolution FLOPs / time) as a fraction of the float32 matmul peak measured
in the same run, for Keras ``predict``, a ``tf.function`` and LiteRT
(XNNPACK). Then the peak memory (max RSS) of upscaling a 2040x1356 image x4
with ``tfsr.upscale``'s default path, in a fresh process.
"""
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tfsr import cli

SIZES = {"128x128": (128, 128), "510x339": (339, 510)}


def matmul_peak_gflops(n=2048, repeat=10):
    """Best float32 GFLOP/s of a large tf.linalg.matmul."""
    import tensorflow as tf
    a = tf.random.uniform((n, n))
    b = tf.random.uniform((n, n))
    tf.linalg.matmul(a, b).numpy()
    best = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
    return best


def peak_memory(arch, width=2040, height=1356):
    """Max RSS in MB of `tfsr.upscale` on a width x height image, in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        from PIL import Image

        from tfsr.models import build
        build(arch, 4).save(f"{tmp}/m.keras")
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(f"{tmp}/big.png")
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tfsr.upscale", "--model", f"{tmp}/m.keras", f"{tmp}/big.png",
                        "--output", f"{tmp}/out"], check=True, capture_output=True)
        seconds = time.perf_counter() - t
        size = Image.open(f"{tmp}/out/big.png").size
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, seconds, size


def main():
    p = cli.parser(__doc__.splitlines()[0], "python tools/benchmark_inference.py")
    p.add_argument("--archs", nargs="+", default=["edsr_baseline", "wdsr_b"], help="architectures (x4)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (median)")
    p.add_argument("--skip-memory", action="store_true", help="skip the 2040x1356 peak-memory run")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()

    from tfsr.inference import make_predictor
    from tfsr.models import build
    from tfsr.models.complexity import flops_per_lr_pixel
    from tfsr.verify import median_seconds

    peak = matmul_peak_gflops()
    print(f"float32 matmul peak (2048x2048, tf.linalg.matmul): {peak:.1f} GFLOP/s")
    print(f"{'arch':<14} {'input':<8} {'backend':<9} {'ms/image':>9} {'out MP/s':>9} {'GFLOP/s':>8} {'of peak':>8}")
    results = []
    for arch in args.archs:
        model = build(arch, 4)
        flops = flops_per_lr_pixel(model)
        predictors = {backend: make_predictor(model, backend) for backend in ("keras", "function", "litert")}
        for label, (h, w) in SIZES.items():
            x = np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
            for backend, predict in predictors.items():
                seconds = median_seconds(predict, x, args.repeat)
                gflops = flops * h * w / seconds / 1e9
                row = {"arch": arch, "input": label, "backend": backend, "ms": 1000 * seconds,
                       "output_mpix_per_s": 16 * h * w / seconds / 1e6, "gflops": gflops,
                       "fraction_of_peak": gflops / peak}
                results.append(row)
                print(f"{arch:<14} {label:<8} {backend:<9} {row['ms']:9.1f} {row['output_mpix_per_s']:9.2f} "
                      f"{gflops:8.1f} {row['fraction_of_peak']:8.0%}", flush=True)
    memory = None
    if not args.skip_memory:
        rss, seconds, size = peak_memory("edsr_baseline")
        memory = {"arch": "edsr_baseline", "input": "2040x1356", "output": f"{size[0]}x{size[1]}",
                  "max_rss_mb": rss, "seconds": seconds, "path": "python -m tfsr.upscale (litert, --tile 256)"}
        print(f"peak memory, edsr_baseline x4, 2040x1356 -> {size[0]}x{size[1]} with tfsr.upscale defaults: "
              f"{rss:.0f} MB max RSS, {seconds:.1f} s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"matmul_peak_gflops": peak, "results": results, "memory": memory},
                                              indent=2))


if __name__ == "__main__":
    sys.exit(main())
