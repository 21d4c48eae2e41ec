"""Training-pipeline throughput: patches per second, cold and cached, beside the training step rate.

    python tools/benchmark_data.py ../shared/data/train --skip-bad-images --json docs/benchmarks/data_speed.json
    python tools/benchmark_data.py ../shared/data/train --skip-bad-images --degradations bicubic jpeg classical \
        bsrgan realesrgan mixed --train-steps 40 --json docs/benchmarks/degradation_speed.json

Cold: the first batch needs every image decoded and its LR made with
MATLAB bicubic (the shuffle buffer holds the whole set). Cached: steady
state once the decoded images are in memory. The step rates of wdsr_b and
edsr_baseline come from docs/benchmarks/train_speed.json
(tools/benchmark_train.py), at the same batch and patch size. With
``--degradations``, each chain of `tfsr.data.degradations` is timed the
same way, and ``--train-steps N`` also times N WDSR-B training steps fed by
each chain's pipeline (on a 2-core machine the pipeline and the step share
the cores, so this is the number that says whether degrading slows a step; with several chains, each
is timed in a process of its own).
"""
import json
import sys
import time
from pathlib import Path

from tfsr import cli
from tfsr.inference.cpu import cpu_description

TRAIN_SPEED = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "train_speed.json"


def main():
    p = cli.parser(__doc__.splitlines()[0], "python tools/benchmark_data.py")
    p.add_argument("dataset", help="a folder of training images (or sample, div2k, ...)")
    p.add_argument("--scale", type=int, default=4, help="scale")
    p.add_argument("--batch", type=int, default=16, help="batch size")
    p.add_argument("--patch", type=int, default=48, help="LR patch size")
    p.add_argument("--batches", type=int, default=200, help="cached batches to time")
    p.add_argument("--skip-bad-images", action="store_true", help="drop images smaller than a patch")
    p.add_argument("--degradations", nargs="+", default=["bicubic"],
                   help="degradation chains to time (tfsr.data.degradations)")
    p.add_argument("--train-steps", type=int, default=0,
                   help="also time this many WDSR-B training steps fed by each chain's pipeline")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()

    from tfsr.data import resolve, training_dataset
    from tfsr.data.degradations import degradation
    source = resolve(args.dataset, args.scale)
    result = {"dataset": source.name, "images": len(source), "scale": args.scale, "batch": args.batch,
              "patch": args.patch, "cpu": cpu_description(), "consumers": [], "degradations": []}
    print(f"{source.name}: {len(source)} images, x{args.scale}, batch {args.batch}, LR patch {args.patch}")
    for name in args.degradations:
        chain = degradation(name)
        ds = training_dataset(source, batch_size=args.batch, patch_size=args.patch, skip_bad=args.skip_bad_images,
                              degradation=chain)
        cold, cached = _throughput(ds, args.batches, args.batch)
        row = {"degradation": name, "cold_seconds_to_first_batch": cold, "cached_patches_per_second": cached}
        print(f"  {name}: cold (decode + MATLAB-bicubic LR of every image, until the first batch) {cold:.1f} s; "
              f"cached {cached:,.0f} patches/s", flush=True)
        if args.train_steps and len(args.degradations) > 1:  # each chain's training timed in a process of its own
            row["wdsr_b_steps_per_second"] = _training_speed_alone(args, name)
        elif args.train_steps:
            row["wdsr_b_steps_per_second"] = _training_speed(ds, args.scale, args.train_steps)
            print(f"    WDSR-B x{args.scale} training fed by it: {row['wdsr_b_steps_per_second']:.3f} steps/s",
                  flush=True)
        result["degradations"].append(row)
    if "bicubic" in args.degradations:
        bicubic = next(r for r in result["degradations"] if r["degradation"] == "bicubic")
        result["cold_seconds_to_first_batch"] = bicubic["cold_seconds_to_first_batch"]
        result["cached_patches_per_second"] = cached = bicubic["cached_patches_per_second"]
        if TRAIN_SPEED.exists():
            speeds = json.loads(TRAIN_SPEED.read_text())["results"]
            for arch in ("wdsr_b", "edsr_baseline"):
                fastest = min((r["seconds_per_step"] for r in speeds if r["arch"] == arch
                               and r["configuration"] != "torch"), default=None)
                if fastest:
                    consumed = args.batch / fastest
                    result["consumers"].append({"arch": arch, "patches_per_second": consumed,
                                                "pipeline_margin": cached / consumed})
                    print(f"  {arch} training consumes {consumed:,.1f} patches/s -> the bicubic pipeline is "
                          f"{cached / consumed:,.0f}x faster")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


def _throughput(ds, batches, batch):
    """(seconds to the first batch, cached patches per second) of a training dataset."""
    iterator = iter(ds)
    t = time.perf_counter()
    next(iterator)
    cold = time.perf_counter() - t
    for _ in range(20):  # let the parallel maps settle
        next(iterator)
    t = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return cold, batches * batch / (time.perf_counter() - t)


def _training_speed_alone(args, chain):
    """`_training_speed` of one chain in a fresh process: in one process, earlier chains' datasets keep cores busy."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, __file__, args.dataset, "--scale", str(args.scale), "--batch", str(args.batch),
                   "--patch", str(args.patch), "--batches", "1", "--degradations", chain, "--train-steps",
                   str(args.train_steps), "--json", f"{tmp}/one.json"] + (["--skip-bad-images"] if args.skip_bad_images
                                                                         else [])
        subprocess.run(command, check=True, capture_output=True)
        return json.loads(Path(f"{tmp}/one.json").read_text())["degradations"][0]["wdsr_b_steps_per_second"]


def _training_speed(ds, scale, steps):
    """Steps per second of WDSR-B (the paper's size) trained on ``ds``, after a warm-up."""
    import keras

    from tfsr.models import build
    model = build("wdsr_b", scale)
    model.compile(keras.optimizers.Adam(1e-4), "mae", jit_compile=False)
    model.fit(ds, steps_per_epoch=5, epochs=1, verbose=0)
    t = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps / (time.perf_counter() - t)


if __name__ == "__main__":
    sys.exit(main())
