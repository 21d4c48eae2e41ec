"""Inference speed and memory: backends compared, against this CPU's float32 FMA peak.

    python tools/benchmark_inference.py --json docs/benchmarks/inference_speed.json

For edsr_baseline x4 and wdsr_b x4 on a 128x128 and a 510x339 LR input:
milliseconds per image, output megapixels per second and achieved GFLOP/s
(convolution FLOPs / time) as a fraction of the hardware's float32 peak,
for Keras ``predict``, a ``tf.function`` and LiteRT (XNNPACK). The peak is
measured, not assumed: a small C loop of independent AVX2 FMAs on every
core (compiled with gcc); no program can exceed it, so "of peak" stays
below 100 % when the FLOP count is right. A large ``tf.linalg.matmul`` is
reported beside it for reference. Then the peak memory (max RSS) of upscaling a 2040x1356 image x4
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


FMA_LOOP = r"""
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
int main(void) {
    const long n = 100000000;
    double best = 0;
    for (int round = 0; round < 5; round++) {
        int threads = 1;
        float sink = 0;
        double start = omp_get_wtime();
        #pragma omp parallel reduction(+:sink)
        {
            threads = omp_get_num_threads();
            __m256 b = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-4f);
            __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2),
                   a3 = _mm256_set1_ps(3), a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5),
                   a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7), a8 = _mm256_set1_ps(8),
                   a9 = _mm256_set1_ps(9);
            for (long i = 0; i < n; i++) {  /* 10 independent chains hide the FMA latency */
                a0 = _mm256_fmadd_ps(a0, b, c); a1 = _mm256_fmadd_ps(a1, b, c);
                a2 = _mm256_fmadd_ps(a2, b, c); a3 = _mm256_fmadd_ps(a3, b, c);
                a4 = _mm256_fmadd_ps(a4, b, c); a5 = _mm256_fmadd_ps(a5, b, c);
                a6 = _mm256_fmadd_ps(a6, b, c); a7 = _mm256_fmadd_ps(a7, b, c);
                a8 = _mm256_fmadd_ps(a8, b, c); a9 = _mm256_fmadd_ps(a9, b, c);
            }
            __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                     _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
            float out[8];
            _mm256_storeu_ps(out, _mm256_add_ps(s, _mm256_add_ps(a8, a9)));
            sink += out[0];
        }
        double seconds = omp_get_wtime() - start;
        double gflops = threads * (double)n * 10 * 8 * 2 / seconds / 1e9;
        if (gflops > best) best = gflops;
        if (sink == 12345) printf("!");
    }
    printf("%f\n", best);
    return 0;
}
"""


def _avx512(loop):
    """The FMA loop on 512-bit registers (16 floats an instruction)."""
    return (loop.replace("__m256", "__m512").replace("_mm256_", "_mm512_").replace("float out[8]", "float out[16]")
            .replace("* 10 * 8 * 2", "* 10 * 16 * 2"))


def fma_peak_gflops():
    """Measured float32 GFLOP/s of independent FMAs on all cores: the faster of AVX2 and AVX-512 (where the
    CPU has it: Intel's server cores run two 512-bit FMAs a cycle, AMD Zen 4 splits each in two); None
    without gcc or AVX2."""
    best = None
    with tempfile.TemporaryDirectory() as tmp:
        for name, loop, flags in (("avx2", FMA_LOOP, ["-mavx2", "-mfma"]), ("avx512", _avx512(FMA_LOOP), ["-mavx512f"])):
            source, binary = Path(tmp) / f"{name}.c", Path(tmp) / name
            source.write_text(loop)
            built = subprocess.run(["gcc", "-O2", *flags, "-fopenmp", str(source), "-o", str(binary)],
                                   capture_output=True, check=False)
            ran = None if built.returncode else subprocess.run([str(binary)], capture_output=True, text=True,
                                                              check=False)
            if ran is not None and ran.returncode == 0:  # an AVX-512 loop dies on a CPU without it
                best = max(best or 0.0, float(ran.stdout))
    return best


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

    from tfsr.deploy.verify import median_seconds
    from tfsr.inference import make_predictor
    from tfsr.models import build
    from tfsr.models.complexity import flops_per_lr_pixel

    matmul = matmul_peak_gflops()
    peak = fma_peak_gflops() or matmul
    print(f"float32 peak: {peak:.1f} GFLOP/s (AVX2 FMA loop on all cores); 2048x2048 tf.linalg.matmul: "
          f"{matmul:.1f} GFLOP/s")
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
        Path(args.json).write_text(json.dumps({"fma_peak_gflops": peak, "matmul_gflops": matmul,
                                               "results": results, "memory": memory}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
