"""``--mixed-precision``: the dtype a run computes in, chosen so that the flag never slows a run down.

On a GPU, ``auto`` is float16. On a CPU, bfloat16 is only fast where the
CPU computes it natively (AVX-512 BF16, AMX): elsewhere TensorFlow emulates
it and a step takes two to four times as long as in float32. So on a CPU
``auto`` times a few training steps of the run's own network and batch in
float32 and in bfloat16 and keeps the faster, caching the measurement per
CPU, network and batch (``precision.json`` in tfsr's cache folder). An
explicit ``bfloat16`` that measured slower gets a one-line warning.
"""
import contextlib
import json
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from tfsr.data.images import atomic_output
from tfsr.inference.cpu import cpu_description
from tfsr.inference.files import cache_dir


def on_gpu():
    return bool(tf.config.list_physical_devices("GPU"))


def faster(measured):
    """The dtype with the shortest measured step of {dtype: seconds}, float32 on a tie."""
    return min(sorted(measured, key=lambda d: d != "float32"), key=measured.get)


def step_seconds(config, dtype, steps=3, clock=time.perf_counter):
    """Median seconds of a training step of ``config``'s network and batch computing in ``dtype``."""
    from tfsr.models import build
    from tfsr.training.losses import make_loss
    from tfsr.training.trainers import Trainer
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32" if dtype == "float32" else f"mixed_{dtype}")
    try:
        net = build(config.arch, config.scale, **config.model_overrides())
        trainer = Trainer(net)
        trainer.compile(keras.optimizers.Adam(1e-4), make_loss("l1"))
        rng = np.random.default_rng(0)
        lr = rng.uniform(0, 255, (config.batch_size, config.patch_size, config.patch_size, 3)).astype(np.float32)
        hr = rng.uniform(0, 255, (config.batch_size, *(config.patch_size * config.scale,) * 2, 3)).astype(np.float32)
        trainer.train_on_batch(lr, hr)  # traces
        times = []
        for _ in range(steps):
            start = clock()
            trainer.train_on_batch(lr, hr)
            times.append(clock() - start)
        return statistics.median(times)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _key(config):
    cpu = cpu_description()
    net = ",".join(f"{k}={v}" for k, v in sorted(config.model_overrides().items()))
    return (f"{cpu['cpu']} [{' '.join(cpu['isa'])}] tf {tf.__version__} {config.arch}({net}) x{config.scale} "
            f"batch {config.batch_size}x{config.patch_size}")


def measured_steps(config, measure=step_seconds):
    """{float32: s, bfloat16: s} for ``config`` on this CPU, measured once and cached."""
    path, key = cache_dir() / "precision.json", _key(config)
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = {}
    if key not in cached:
        cached[key] = {dtype: measure(config, dtype) for dtype in ("float32", "bfloat16")}
        with contextlib.suppress(OSError):  # a read-only cache only costs the measurement next time
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(path) as tmp:
                tmp.write_text(json.dumps(cached, indent=2))
    return cached[key]


def compute_dtype(config, log=print, measure=step_seconds):
    """The compute dtype of ``config.mixed_precision``, said in one line where a measurement decided it.

    None: float32; float16 and bfloat16 as named (bfloat16 measured slower on this CPU: a warning); auto:
    float16 on GPUs, on CPUs whichever of float32 and bfloat16 measured faster (`measured_steps`).
    """
    mixed = config.mixed_precision
    if mixed in (None, False):
        return "float32"
    if mixed in (True, "auto") and on_gpu():
        return "float16"
    if mixed == "float16" or on_gpu():
        return mixed
    steps = measured_steps(config, measure)
    ratio = steps["bfloat16"] / steps["float32"]
    cpu = cpu_description()
    where = f"{cpu['cpu']} ({', '.join(cpu['isa']) or 'no listed instruction sets'})"
    if mixed == "bfloat16":
        if ratio > 1:
            log(f"warning: bfloat16 measured {ratio:.1f}x slower a step than float32 on this CPU, {where}; "
                f"--mixed-precision auto would train in float32")
        return "bfloat16"
    chosen = faster(steps)
    log(f"mixed precision auto: {chosen} (a step took {steps['float32']:.2f} s in float32, "
        f"{steps['bfloat16']:.2f} s in bfloat16 on {where})")
    return chosen


@contextlib.contextmanager
def dtype_policy(dtype):
    """The Keras policy computing in ``dtype`` (float32 or None, float16, bfloat16), then back.

    Under float16 Keras wraps the optimizer in a ``LossScaleOptimizer``
    (dynamic loss scaling, saved with the optimizer); every trainer scales
    its loss before the gradient and lets ``apply`` unscale it.
    """
    previous = keras.mixed_precision.global_policy()
    if dtype not in (None, "float32"):
        keras.mixed_precision.set_global_policy(f"mixed_{dtype}")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
