"""Checking an exported model against the Keras model it came from.

An export is only written when its quality is verified: PSNR/SSIM of both
models on real images, the difference in dB, the largest pixel difference,
the file size, the operators and the LiteRT latency go into a report
(printed and saved beside the file as JSON).
"""
import time

import numpy as np

from tfsr.color import as_uint8
from tfsr.evaluation import evaluate
from tfsr.inference.runtime import LiteRTPredictor, Upscaler, function_predictor, upscale_tiled
from tfsr.no_reference import no_reference_scores, scored_mean

_MARGIN = 16


def calibration_patches(source, count=40, size=64, seed=0):
    """``count`` random LR crops of ``size`` pixels (float32, [0, 255]) from a `PairedSet`."""
    rng = np.random.default_rng(seed)
    images = [source.load(i)[0] for i in range(len(source))]
    patches = []
    for k in range(count):
        lr = images[k % len(images)]
        h, w = min(size, lr.shape[0]), min(size, lr.shape[1])
        y, x = rng.integers(0, lr.shape[0] - h + 1), rng.integers(0, lr.shape[1] - w + 1)
        patches.append(lr[None, y:y + h, x:x + w].astype(np.float32))
    return patches


def median_seconds(fn, x, repeat=10):
    """Median wall time of ``fn(x)`` over ``repeat`` calls, after one warm-up call."""
    fn(x)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def litert_latency(tflite_bytes, input_size=(128, 128), threads=2, repeat=10):
    """Median milliseconds per LiteRT invoke on one input of ``input_size``."""
    image = np.random.default_rng(0).uniform(0, 255, (1, *input_size, 3)).astype(np.float32)
    return 1000 * median_seconds(LiteRTPredictor(tflite_bytes, num_threads=threads), image, repeat)


def compare(keras_model, scale, tflite_bytes, source, input_size=None):
    """Quality of a TFLite model against the Keras model on ``source``.

    A fixed-shape model (``input_size``) is run in tiles of that size.
    """
    tile = None if input_size is None else min(input_size) - 2 * _MARGIN
    return compare_predictor(keras_model, scale, LiteRTPredictor(tflite_bytes), source, tile)


def compare_predictor(keras_model, scale, predict, source, tile=None, noise_draws=8):
    """PSNR/SSIM of ``predict`` and of the Keras model on ``source``, and how far apart their outputs are.

    ``psnr_to_keras`` (mean over images, RGB) measures the export's own error
    against the Keras output: unlike ``psnr_drop`` it cannot come out negative
    by luck, so it is the figure to rank quantization schemes by.

    ``niqe_noise_change`` is what NIQE says of a difference nobody sees: the
    change it gives the Keras output plus white noise as large as the export's
    own error (each image's RMS), the mean of ``noise_draws`` draws, and
    ``niqe_noise_spread`` their standard deviation. On a few small images
    (Set5's ``head`` holds four of NIQE's 96-pixel blocks) such noise moves
    the mean by tenths, so an export's ``niqe_change`` is read against it.
    """
    exported = Upscaler(predict, scale, tile, _MARGIN)
    reference = function_predictor(keras_model)
    keras_outputs, differences, mse = [], [], []

    def keras_upscale(lr):
        keras_outputs.append(upscale_tiled(lr, reference, scale))
        return keras_outputs[-1]

    def exported_upscale(lr):
        sr = exported(lr)
        error = sr.astype(np.float64) - keras_outputs[len(differences)]
        differences.append(int(np.abs(error).max()))
        mse.append(float(np.mean(error ** 2)))
        return sr

    metrics = ("psnr", "ssim", "niqe")  # NIQE: a perceptual model's int8 file must also look the same
    keras_report = evaluate(source, keras_upscale, progress=False, metrics=metrics)
    exported_report = evaluate(source, exported_upscale, metrics=metrics)  # the bar: the export's turn
    noise = np.random.default_rng(0)
    noise_changes = [scored_mean(no_reference_scores(as_uint8(out + noise.normal(0, size, out.shape)), scale,
                                                     ("niqe",))["niqe"] for out, size in zip(keras_outputs, np.sqrt(mse)))
                     - keras_report.mean("niqe") for _ in range(noise_draws)]
    return {
        "dataset": source.name, "convention": keras_report.convention, "input": keras_report.input,
        "keras": {m: keras_report.mean(m) for m in metrics},
        "exported": {m: exported_report.mean(m) for m in metrics},
        "psnr_drop": keras_report.psnr - exported_report.psnr,
        "ssim_drop": keras_report.ssim - exported_report.ssim,
        "niqe_change": exported_report.mean("niqe") - keras_report.mean("niqe"),
        "niqe_noise_change": float(np.mean(noise_changes)),
        "niqe_noise_spread": float(np.std(noise_changes)),
        "max_pixel_difference": max(differences),
        "psnr_to_keras": float(np.mean(10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-10)))),
    }
