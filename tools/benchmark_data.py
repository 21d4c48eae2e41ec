"""Training-pipeline throughput: patches per second, cold and cached, beside the training step rate.

    python tools/benchmark_data.py ../shared/data/train --skip-bad-images --json docs/benchmarks/data_speed.json

Cold: the first batch needs every image decoded and its LR made with
MATLAB bicubic (the shuffle buffer holds the whole set). Cached: steady
state once the decoded images are in memory. The step rates of wdsr_b and
edsr_baseline come from docs/benchmarks/train_speed.json
(tools/benchmark_train.py), at the same batch and patch size.
"""
import json
import sys
import time
from pathlib import Path

from tfsr import cli

TRAIN_SPEED = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "train_speed.json"


def main():
    p = cli.parser(__doc__.splitlines()[0], "python tools/benchmark_data.py")
    p.add_argument("dataset", help="a folder of training images (or sample, div2k, ...)")
    p.add_argument("--scale", type=int, default=4, help="scale")
    p.add_argument("--batch", type=int, default=16, help="batch size")
    p.add_argument("--patch", type=int, default=48, help="LR patch size")
    p.add_argument("--batches", type=int, default=200, help="cached batches to time")
    p.add_argument("--skip-bad-images", action="store_true", help="drop images smaller than a patch")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()

    from tfsr.data import resolve, training_dataset
    source = resolve(args.dataset, args.scale)
    ds = training_dataset(source, batch_size=args.batch, patch_size=args.patch, skip_bad=args.skip_bad_images)
    iterator = iter(ds)
    t = time.perf_counter()
    next(iterator)
    cold = time.perf_counter() - t
    for _ in range(20):  # let the parallel maps settle
        next(iterator)
    t = time.perf_counter()
    for _ in range(args.batches):
        next(iterator)
    cached = args.batches * args.batch / (time.perf_counter() - t)
    print(f"{source.name}: {len(source)} images, x{args.scale}, batch {args.batch}, LR patch {args.patch}")
    print(f"  cold (decode + MATLAB-bicubic LR of every image, until the first batch): {cold:.1f} s")
    print(f"  cached: {cached:,.0f} patches/s")
    result = {"dataset": source.name, "images": len(source), "cold_seconds_to_first_batch": cold,
              "cached_patches_per_second": cached, "consumers": []}
    if TRAIN_SPEED.exists():
        speeds = json.loads(TRAIN_SPEED.read_text())["results"]
        for arch in ("wdsr_b", "edsr_baseline"):
            fastest = min((r["seconds_per_step"] for r in speeds if r["arch"] == arch
                           and r["configuration"] != "torch"), default=None)
            if fastest:
                consumed = args.batch / fastest
                result["consumers"].append({"arch": arch, "patches_per_second": consumed,
                                            "pipeline_margin": cached / consumed})
                print(f"  {arch} training consumes {consumed:,.1f} patches/s -> pipeline is "
                      f"{cached / consumed:,.0f}x faster")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(main())
