"""Training step time: Keras (oneDNN on/off × XLA on/off, and bfloat16) against PyTorch, same networks.

    python tools/benchmark_train.py --archs edsr_baseline wdsr_b --steps 6 --json docs/benchmarks/train_speed.json
    python tools/benchmark_train.py --configurations "keras: oneDNN on" "keras: bfloat16, oneDNN on" torch

Batch 16, LR patch 48, x4 by default. Each configuration runs in a fresh
process (TF_ENABLE_ONEDNN_OPTS is read when TensorFlow is imported) on a
fixed in-memory batch, so only the step itself is timed. Configurations
are run round-robin ``--rounds`` times (this machine's speed drifts) and the
median over all timed steps (two warm-up steps per process dropped) is
reported.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tfsr import cli

MODES = {"keras: oneDNN on": ("1", False, "float32"), "keras: oneDNN off": ("0", False, "float32"),
         "keras: XLA, oneDNN on": ("1", True, "float32"), "keras: XLA, oneDNN off": ("0", True, "float32"),
         "keras: bfloat16, oneDNN on": ("1", False, "bfloat16")}  # what --mixed-precision bfloat16 computes in


def keras_step_times(arch, scale, batch, patch, steps, jit, dtype="float32"):
    import keras
    import tensorflow as tf

    if dtype != "float32":
        keras.mixed_precision.set_global_policy(f"mixed_{dtype}")

    from tfsr.models import build
    from tfsr.training import TrainConfig, make_optimizer
    from tfsr.training.trainers import Trainer

    trainer = Trainer(build(arch, scale))
    trainer.compile(make_optimizer(TrainConfig(arch=arch).resolved()), "mae", jit_compile=jit)
    rng = np.random.default_rng(0)
    lr = rng.uniform(0, 255, (batch, patch, patch, 3)).astype("float32")
    hr = rng.uniform(0, 255, (batch, patch * scale, patch * scale, 3)).astype("float32")
    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, b, logs=None):
            self.t = time.perf_counter()

        def on_train_batch_end(self, b, logs=None):
            times.append(time.perf_counter() - self.t)

    data = tf.data.Dataset.from_tensors((lr, hr)).repeat()
    trainer.fit(data, steps_per_epoch=steps + 2, epochs=1, verbose=0, callbacks=[Timer()])
    return times[2:]


def torch_step_times(arch, scale, batch, patch, steps):
    import torch
    sys.path.insert(0, str(Path(__file__).parent))
    import torch_reference
    torch.set_num_threads(os.cpu_count())
    if arch == "edsr_baseline":
        model = torch_reference.EDSR(scale)
    elif arch == "wdsr_b":
        model = torch_reference.WDSRB(scale)
    else:
        return None
    optimizer = torch.optim.Adam(model.parameters(), 1e-4, betas=(0.9, 0.999), eps=1e-8)
    lr = torch.rand(batch, 3, patch, patch) * 255
    hr = torch.rand(batch, 3, patch * scale, patch * scale) * 255
    times = []
    for i in range(steps + 2):
        t = time.perf_counter()
        optimizer.zero_grad()
        (model(lr) - hr).abs().mean().backward()
        optimizer.step()
        times.append(time.perf_counter() - t)
    return times[2:]


def worker(args):
    if args.mode == "torch":
        times = torch_step_times(args.arch, args.scale, args.batch, args.patch, args.steps)
    else:
        times = keras_step_times(args.arch, args.scale, args.batch, args.patch, args.steps, *MODES[args.mode][1:])
    print(json.dumps(times))


def run(arch, mode, args):
    env = dict(os.environ)
    if mode != "torch":
        env["TF_ENABLE_ONEDNN_OPTS"] = MODES[mode][0]
    command = [sys.executable, __file__, "--worker", "--arch", arch, "--mode", mode, "--scale", str(args.scale),
               "--batch", str(args.batch), "--patch", str(args.patch), "--steps", str(args.steps)]
    out = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
    if out.returncode:
        return None, out.stderr.strip().splitlines()[-1]
    times = json.loads(out.stdout.strip().splitlines()[-1])
    return times, None


def main():
    p = cli.parser(__doc__.splitlines()[0], "python tools/benchmark_train.py")
    p.add_argument("--archs", nargs="+", default=["edsr_baseline", "wdsr_b"], help="architectures to time")
    p.add_argument("--scale", type=int, default=4, help="scale")
    p.add_argument("--batch", type=int, default=16, help="batch size")
    p.add_argument("--patch", type=int, default=48, help="LR patch size")
    p.add_argument("--steps", type=int, default=4, help="timed steps per configuration and round")
    p.add_argument("--rounds", type=int, default=3, help="round-robin repetitions of all configurations")
    p.add_argument("--configurations", nargs="+", choices=[*MODES, "torch"], default=[*MODES, "torch"],
                   metavar="NAME", help=f"configurations to time (default: all: {', '.join([*MODES, 'torch'])})")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--arch", help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    results = []
    print(f"training step, batch {args.batch}, LR patch {args.patch}, x{args.scale}, {os.cpu_count()} CPU threads")
    print(f"{'arch':<15} {'configuration':<24} {'s/step':>8} {'steps/s':>8}   "
          f"(median of {args.rounds}x{args.steps} steps; per-round medians)")
    for arch in args.archs:
        configurations = args.configurations  # "torch": PyTorch eager, the reference
        times = {mode: [] for mode in configurations}
        rounds = {mode: [] for mode in configurations}
        errors = {}
        for _ in range(args.rounds):
            for mode in configurations:
                got, error = run(arch, mode, args)
                if got is None:
                    errors[mode] = error
                    continue
                times[mode] += got
                rounds[mode].append(float(np.median(got)))
        for mode in configurations:
            if not times[mode]:
                print(f"{arch:<15} {mode:<24} {'n/a':>8}   {errors.get(mode)}")
                continue
            median = float(np.median(times[mode]))
            results.append({"arch": arch, "configuration": mode, "seconds_per_step": median,
                            "round_medians": rounds[mode], "times": times[mode]})
            print(f"{arch:<15} {mode:<24} {median:8.3f} {1 / median:8.3f}   "
                  f"({', '.join(f'{r:.3f}' for r in rounds[mode])})", flush=True)
    from tfsr.inference.cpu import cpu_description
    cpu = cpu_description()
    print(f"on {cpu['cpu']} ({', '.join(cpu['isa'])})")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"batch": args.batch, "patch": args.patch, "scale": args.scale,
                                               "cpu": cpu, "results": results}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
