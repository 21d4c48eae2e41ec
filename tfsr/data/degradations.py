"""Degradations: LR images as real photos have them (blur, resize, noise, JPEG), made from HR in graph.

A `Degradation` maps an HR image (or patch) and its MATLAB-bicubic LR to a
degraded LR of the same size, with TensorFlow ops only (it runs inside
tf.data maps) and stateless randomness: the same seed gives the same LR,
whatever the parallelism, so a run is reproducible and resumable and an
evaluation protocol is fixed per image. Chains:

- ``bicubic``: the LR unchanged (the benchmarks' protocol);
- ``jpeg``: the bicubic LR saved as JPEG, quality in ``jpeg_range``
  (``jpeg:75`` fixes it);
- ``classical``: the classical model, blur → bicubic ↓s → Gaussian noise → JPEG;
- ``bsrgan``: BSRGAN's first-order model (Zhang et al. 2021): two blurs,
  a random intermediate resize, noise and JPEG in random order, then the
  resize to LR size and a final JPEG;
- ``realesrgan``: Real-ESRGAN's second-order model (Wang et al. 2021): two
  stages of blur (Gaussian, generalized Gaussian, plateau, sinc kernels),
  random resize, Gaussian or Poisson noise and JPEG, then resize to LR size
  and a sinc filter and JPEG in random order; ``final_noise_prob`` (0 in
  Real-ESRGAN) adds stage 2's noise after all of it, as sensor noise of a
  small photo stored losslessly: pixel-level colour noise, which the chain's
  last JPEG (4:2:0) otherwise always smooths away;
- ``mixed``: each image draws one of the chains above (``weights``);
- ``photo``: the same with what camera and phone photos go through: clean
  (25 %), JPEG (35 %) and the classical chain (40 %); the real presets'
  training and protocol.

Every probability and range is a named option (Real-ESRGAN's names where
it has them; a ``2`` suffix is its second stage) and can be overridden;
`degradation` checks them and names what is wrong. Images are float32 in
[0, 255]. Real-ESRGAN's JPEG is a differentiable approximation and its
Poisson noise counts the image's distinct values; here JPEG is libjpeg
(4:2:0, as cameras and PIL save) and the count is taken the same way.
"""
import json
import math

import numpy as np
import tensorflow as tf

from tfsr.data.degradation_options import MIXTURES, chain_options

KERNELS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
KERNEL_SIZE = 21  # largest blur kernel; smaller ones are drawn from 7, 9, ..., 21 and padded
RESIZE_MODES = ("area", "bilinear", "bicubic")


def degradation(spec="bicubic", options=None):
    """The `Degradation` named by ``spec`` (``NAME`` or ``jpeg:QUALITY``) with ``options`` overridden.

    ``options`` is a dict of this chain's options; for ``mixed`` it may also
    hold one dict of options per chain (``{"jpeg": {"jpeg_range": [50, 95]}}``).
    Raises `DegradationError` naming an unknown chain or option or an
    invalid value (`tfsr.data.degradation_options`).
    """
    name, params, sub_options = chain_options(spec, options)
    parts = {}
    if name in MIXTURES:
        parts = {chain: degradation(chain, sub_options.get(chain)) for chain, weight in params["weights"].items()
                 if weight > 0}
    return Degradation(spec=str(spec), name=name, params=params, parts=parts, options=options or {})


class Degradation:
    """A named chain with its options; call it as ``degradation(hr, lr, seed)`` inside a graph."""

    def __init__(self, spec, name, params, parts, options):
        self.spec, self.name, self.params, self.parts, self.options = spec, name, params, parts, options
        self._compiled = None

    @property
    def is_identity(self):
        return self.name == "bicubic"

    def describe(self):
        """A label for result lines that names the protocol exactly: the spec and any overridden options."""
        return self.spec + (f" {json.dumps(self.options, sort_keys=True)}" if self.options else "")

    def __call__(self, hr, lr, seed):
        """A degraded LR (float32, [0, 255], whole grey levels) of ``lr``'s size.

        ``hr`` and ``lr`` are float32 (H, W, 3) in [0, 255], ``lr`` the
        MATLAB-bicubic LR of ``hr``; ``seed`` is a stateless seed (2 ints).
        """
        seeds = _Seeds(seed)
        size = tf.shape(lr)[:2]
        if self.name in MIXTURES:
            names = list(self.parts)
            weights = tf.constant([self.params["weights"][n] for n in names], tf.float32)
            pick = tf.random.stateless_categorical(tf.math.log(weights / tf.reduce_sum(weights))[None], 1,
                                                   seeds())[0, 0]
            branch_seed = seeds()
            out = tf.switch_case(tf.cast(pick, tf.int32),
                                 [lambda n=n: self.parts[n](hr, lr, branch_seed) for n in names])
        else:
            out = _CHAINS[self.name](hr, lr, size, seeds, self.params)
        return tf.ensure_shape(tf.clip_by_value(tf.round(out), 0, 255), lr.shape)


    def apply(self, hr, lr, seed):
        """The degraded LR (uint8) of one image, NumPy in and out; ``seed`` is two ints.

        A grayscale HR image is degraded as RGB (its LR is RGB).
        """
        hr = np.asarray(hr)
        if hr.shape[-1] == 1:
            hr = np.repeat(hr, 3, axis=-1)
        if self._compiled is None:
            self._compiled = tf.function(self.__call__, reduce_retracing=True)
        out = self._compiled(tf.constant(hr, tf.float32), tf.constant(lr, tf.float32), tf.constant(seed, tf.int64))
        return out.numpy().astype(np.uint8)


class _Seeds:
    """Fresh stateless seeds from one, in the order the graph asks for them."""

    def __init__(self, seed):
        self.seed, self.count = tf.cast(seed, tf.int64), 0

    def __call__(self):
        self.count += 1
        return tf.random.experimental.stateless_fold_in(self.seed, self.count)


def _uniform(seeds, low, high):
    return tf.random.stateless_uniform([], seeds(), float(low), float(high))


def _happens(seeds, probability):
    return tf.random.stateless_uniform([], seeds()) < probability


def _pick(seeds, probabilities):
    logits = tf.math.log(tf.constant(probabilities, tf.float32))[None]
    return tf.cast(tf.random.stateless_categorical(logits, 1, seeds())[0, 0], tf.int32)


# ---------------------------------------------------------------- blur kernels

def _grid():
    axis = tf.range(KERNEL_SIZE, dtype=tf.float32) - KERNEL_SIZE // 2
    return tf.meshgrid(axis, axis)


def _quadratic_form(sigma_x, sigma_y, theta):
    """x^T Σ^-1 x on the kernel grid, Σ = R(θ) diag(σx², σy²) R(θ)^T."""
    x, y = _grid()
    c, s = tf.cos(theta), tf.sin(theta)
    a, b = 1 / sigma_x ** 2, 1 / sigma_y ** 2
    return (c * c * a + s * s * b) * x * x + 2 * c * s * (a - b) * x * y + (s * s * a + c * c * b) * y * y


def _size_mask(size):
    x, y = _grid()
    half = tf.cast(size // 2, tf.float32)
    return tf.cast((tf.abs(x) <= half) & (tf.abs(y) <= half), tf.float32)


def _normalized(kernel, size):
    kernel = kernel * _size_mask(size)
    return kernel / tf.reduce_sum(kernel)


def sinc_kernel(cutoff, size):
    """A circular low-pass (2-D sinc) kernel of ``size`` (odd) with cutoff frequency ``cutoff`` (radians)."""
    x, y = _grid()
    r = tf.sqrt(x * x + y * y)
    safe = tf.where(r > 0, r, 1.0)
    kernel = tf.where(r > 0, cutoff * tf.math.special.bessel_j1(cutoff * safe) / (2 * math.pi * safe),
                      cutoff ** 2 / (4 * math.pi))
    return _normalized(kernel, size)


def _random_size(seeds):
    return 7 + 2 * tf.random.stateless_uniform([], seeds(), 0, (KERNEL_SIZE - 7) // 2 + 1, tf.int32)


def _random_beta(seeds, beta_range):
    """β below or above 1 with equal chance (as Real-ESRGAN draws it)."""
    low, high = beta_range
    below = _uniform(seeds, low, min(high, 1.0))
    above = _uniform(seeds, max(low, 1.0), high)
    return tf.where(_happens(seeds, 0.5), below, above)


def random_kernel(seeds, kernel_prob, sinc_prob, sigma, betag, betap):
    """A Real-ESRGAN blur kernel (KERNEL_SIZE², sums to 1): one of `KERNELS` by ``kernel_prob``, or a sinc."""
    size = _random_size(seeds)
    sigma_x, sigma_y = _uniform(seeds, *sigma), _uniform(seeds, *sigma)
    theta = _uniform(seeds, -math.pi, math.pi)
    kind = _pick(seeds, kernel_prob)
    iso = _quadratic_form(sigma_x, sigma_x, 0.0)
    aniso = _quadratic_form(sigma_x, sigma_y, theta)
    beta_g, beta_p = _random_beta(seeds, betag), _random_beta(seeds, betap)
    shapes = [tf.exp(-0.5 * iso), tf.exp(-0.5 * aniso),
              tf.exp(-0.5 * tf.pow(iso, beta_g)), tf.exp(-0.5 * tf.pow(aniso, beta_g)),
              1 / (tf.pow(iso, beta_p) + 1), 1 / (tf.pow(aniso, beta_p) + 1)]
    kernel = _normalized(tf.gather(tf.stack(shapes), kind), size)
    cutoff = tf.where(size < 13, _uniform(seeds, math.pi / 3, math.pi), _uniform(seeds, math.pi / 5, math.pi))
    return tf.cond(_happens(seeds, sinc_prob), lambda: sinc_kernel(cutoff, size), lambda: kernel)


def gaussian_kernel(sigma_x, sigma_y=None, theta=0.0, size=KERNEL_SIZE):
    """An (an)isotropic Gaussian kernel, KERNEL_SIZE² with zeros outside ``size``."""
    sigma_y = sigma_x if sigma_y is None else sigma_y
    return _normalized(tf.exp(-0.5 * _quadratic_form(sigma_x, sigma_y, theta)), size)


def _reflect(n, pad):
    """Indices that pad an axis of length ``n`` by ``pad`` on both sides, mirrored (any n, any pad)."""
    i = tf.range(-pad, n + pad)
    period = tf.maximum(2 * (n - 1), 1)
    i = tf.math.floormod(i, period)
    return tf.minimum(tf.where(i >= n, period - i, i), n - 1)


def blur(image, kernel):
    """``image`` (H, W, C) filtered with a square, centrosymmetric ``kernel``, borders mirrored.

    By FFT (50x faster than a depthwise convolution for a 21×21 kernel);
    every kernel here is symmetric under x → −x, so convolution and
    correlation agree.
    """
    pad = kernel.shape[0] // 2
    shape = tf.shape(image)
    padded = tf.gather(tf.gather(image, _reflect(shape[0], pad), axis=0), _reflect(shape[1], pad), axis=1)
    planes = tf.transpose(padded, [2, 0, 1])
    size = tf.shape(planes)[1:]
    spread = tf.pad(kernel, [[0, size[0] - kernel.shape[0]], [0, size[1] - kernel.shape[1]]])
    filtered = tf.signal.irfft2d(tf.signal.rfft2d(planes) * tf.signal.rfft2d(spread)[None], fft_length=size)
    return tf.transpose(filtered[:, 2 * pad:, 2 * pad:], [1, 2, 0])


# ---------------------------------------------------------------- resize, noise, JPEG

def _resize(image, size, seeds, modes=RESIZE_MODES):
    """``image`` resized to ``size`` by a random one of ``modes`` (no antialiasing, as torch's interpolate)."""
    size = tf.maximum(tf.cast(size, tf.int32), 2)
    index = tf.random.stateless_uniform([], seeds(), 0, len(modes), tf.int32)
    return tf.switch_case(index, [lambda m=m: tf.image.resize(image, size, method=m) for m in modes])


def _random_factor(seeds, resize_prob, resize_range):
    """A resize factor: up in [1, high], down in [low, 1] or 1, by ``resize_prob`` (up, down, keep)."""
    low, high = resize_range
    choice = _pick(seeds, resize_prob)
    up, down = _uniform(seeds, 1.0, max(high, 1.0)), _uniform(seeds, min(low, 1.0), 1.0)
    return tf.gather(tf.stack([up, down, 1.0]), choice)


def gaussian_noise(image, seeds, sigma, gray):
    """``image`` plus zero-mean Gaussian noise of std ``sigma`` (grey levels), the same in all channels if ``gray``."""
    shape = tf.shape(image)
    color = tf.random.stateless_normal(shape, seeds())
    mono = tf.random.stateless_normal(tf.concat([shape[:2], [1]], 0), seeds())
    return image + sigma * tf.where(gray, mono, color)


def _poisson(image, seeds):
    """Poisson noise of a [0, 1] image with 2^ceil(log2(distinct values)) photon levels, as Real-ESRGAN."""
    image = tf.round(tf.clip_by_value(image, 0, 1) * 255) / 255
    values = tf.cast(tf.size(tf.unique(tf.reshape(image, [-1])).y), tf.float32)
    levels = tf.pow(2.0, tf.math.ceil(tf.math.log(values) / math.log(2.0)))
    return tf.random.stateless_poisson(tf.shape(image), seeds(), image * levels, tf.float32) / levels - image


def poisson_noise(image, seeds, scale, gray):
    """``image`` plus ``scale`` × Poisson noise (computed on the luma if ``gray``)."""
    color = _poisson(image / 255, seeds)
    mono = _poisson(tf.image.rgb_to_grayscale(image) / 255, seeds)
    return image + 255 * scale * tf.where(gray, mono, color)


def jpeg(image, quality):
    """``image`` (float, [0, 255]) saved as JPEG at ``quality`` (an int tensor) and decoded again."""
    pixels = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    encoded = tf.raw_ops.EncodeJpegVariableQuality(images=pixels, quality=tf.cast(quality, tf.int32))
    return tf.cast(tf.io.decode_jpeg(encoded, channels=3), tf.float32)


def _random_jpeg(image, seeds, jpeg_range):
    low, high = jpeg_range
    return jpeg(image, tf.random.stateless_uniform([], seeds(), int(low), int(high) + 1, tf.int32))


def _random_noise(image, seeds, p, suffix=""):
    """Real-ESRGAN's noise step: Gaussian or Poisson, color or gray."""
    gray = _happens(seeds, p[f"gray_noise_prob{suffix}"])
    sigma = _uniform(seeds, *p[f"noise_range{suffix}"])
    scale = _uniform(seeds, *p[f"poisson_scale_range{suffix}"])
    image = tf.cond(_happens(seeds, p[f"gaussian_noise_prob{suffix}"]),
                    lambda: gaussian_noise(image, seeds, sigma, gray),
                    lambda: poisson_noise(image, seeds, scale, gray))
    return tf.clip_by_value(image, 0, 255)


# ---------------------------------------------------------------- chains

def _jpeg_chain(hr, lr, size, seeds, p):
    return _random_jpeg(lr, seeds, p["jpeg_range"])


def _bicubic_chain(hr, lr, size, seeds, p):
    return lr


def _classical_chain(hr, lr, size, seeds, p):
    sigma_x, sigma_y = _uniform(seeds, *p["blur_sigma"]), _uniform(seeds, *p["blur_sigma"])
    theta = _uniform(seeds, -math.pi, math.pi)
    kernel = tf.cond(_happens(seeds, p["aniso_prob"]), lambda: gaussian_kernel(sigma_x, sigma_y, theta),
                     lambda: gaussian_kernel(sigma_x))
    out = tf.cond(_happens(seeds, p["blur_prob"]), lambda: blur(hr, kernel), lambda: hr)
    out = tf.image.resize(out, size, method="bicubic", antialias=True)
    gray, sigma = _happens(seeds, p["gray_noise_prob"]), _uniform(seeds, *p["noise_range"])
    out = tf.cond(_happens(seeds, p["noise_prob"]), lambda: gaussian_noise(out, seeds, sigma, gray), lambda: out)
    out = tf.clip_by_value(out, 0, 255)
    return tf.cond(_happens(seeds, p["jpeg_prob"]), lambda: _random_jpeg(out, seeds, p["jpeg_range"]), lambda: out)


def _bsrgan_blur(image, seeds, p):
    """BSRGAN's blur: isotropic σ in ``blur_sigma`` or anisotropic with variances in ``aniso_variance``."""
    variances = [_uniform(seeds, *p["aniso_variance"]) for _ in range(2)]
    theta = _uniform(seeds, 0.0, math.pi)
    sigma = _uniform(seeds, *p["blur_sigma"])
    size = _random_size(seeds)
    kernel = tf.cond(_happens(seeds, p["aniso_prob"]),
                     lambda: gaussian_kernel(tf.sqrt(variances[0]), tf.sqrt(variances[1]), theta, size),
                     lambda: gaussian_kernel(sigma, size=size))
    return blur(image, kernel)


def _bsrgan_chain(hr, lr, size, seeds, p):
    def downsample(image):
        factor = _uniform(seeds, *p["downsample_range"])
        smaller = tf.cast(tf.cast(tf.shape(image)[:2], tf.float32) / factor, tf.int32)
        resized = _resize(image, smaller, seeds, ("bilinear", "bicubic", "area"))
        return tf.cond(_happens(seeds, p["downsample_prob"]), lambda: resized, lambda: image)

    def noise(image):
        gray, sigma = _happens(seeds, p["gray_noise_prob"]), _uniform(seeds, *p["noise_range"])
        return gaussian_noise(image, seeds, sigma, gray)

    def compress(image):
        return tf.cond(_happens(seeds, p["jpeg_prob"]), lambda: _random_jpeg(image, seeds, p["jpeg_range"]),
                       lambda: image)

    steps = [lambda x: _bsrgan_blur(x, seeds, p), lambda x: _bsrgan_blur(x, seeds, p), downsample, noise, compress]
    order = tf.argsort(tf.random.stateless_uniform([len(steps)], seeds()))
    out = hr
    for position in range(len(steps)):
        out = tf.switch_case(order[position], [lambda step=step, x=out: tf.clip_by_value(step(x), 0, 255)
                                               for step in steps])
        out = tf.ensure_shape(out, [None, None, 3])
    out = tf.clip_by_value(_resize(out, size, seeds, ("bilinear", "bicubic", "area")), 0, 255)
    return _random_jpeg(out, seeds, p["jpeg_range"])


def _realesrgan_chain(hr, lr, size, seeds, p):
    def kernel(suffix):
        return random_kernel(seeds, p[f"kernel_prob{suffix}"], p[f"sinc_prob{suffix}"], p[f"blur_sigma{suffix}"],
                             p[f"betag_range{suffix}"], p[f"betap_range{suffix}"])

    # First stage: blur, resize relative to HR, noise, JPEG.
    out = blur(hr, kernel(""))
    factor = _random_factor(seeds, p["resize_prob"], p["resize_range"])
    out = _resize(out, tf.cast(tf.cast(tf.shape(out)[:2], tf.float32) * factor, tf.int32), seeds)
    out = _random_jpeg(_random_noise(out, seeds, p), seeds, p["jpeg_range"])
    # Second stage: blur (sometimes), resize relative to the LR size, noise.
    second = kernel("2")
    out = tf.cond(_happens(seeds, p["second_blur_prob"]), lambda: blur(out, second), lambda: out)
    factor = _random_factor(seeds, p["resize_prob2"], p["resize_range2"])
    out = _resize(out, tf.cast(tf.cast(size, tf.float32) * factor, tf.int32), seeds)
    out = _random_noise(out, seeds, p, "2")
    # Last: [resize to the LR size + sinc] and JPEG, in random order.
    cutoff = _uniform(seeds, math.pi / 3, math.pi)
    final = tf.cond(_happens(seeds, p["final_sinc_prob"]), lambda: sinc_kernel(cutoff, _random_size(seeds)), _pulse)
    quality = tf.random.stateless_uniform([], seeds(), int(p["jpeg_range2"][0]), int(p["jpeg_range2"][1]) + 1,
                                          tf.int32)

    def resize_then_jpeg():
        return jpeg(tf.clip_by_value(blur(_resize(out, size, seeds), final), 0, 255), quality)

    def jpeg_then_resize():
        return blur(_resize(jpeg(out, quality), size, seeds), final)

    out = tf.cond(_happens(seeds, 0.5), resize_then_jpeg, jpeg_then_resize)
    if p["final_noise_prob"] > 0:  # not Real-ESRGAN's: noise after the last JPEG, at stage 2's settings
        out = tf.cond(_happens(seeds, p["final_noise_prob"]), lambda: _random_noise(out, seeds, p, "2"), lambda: out)
    return out


def _pulse():
    """The identity kernel."""
    return tf.reshape(tf.one_hot(KERNEL_SIZE ** 2 // 2, KERNEL_SIZE ** 2, dtype=tf.float32), [KERNEL_SIZE] * 2)


_CHAINS = {"bicubic": _bicubic_chain, "jpeg": _jpeg_chain, "classical": _classical_chain, "bsrgan": _bsrgan_chain,
           "realesrgan": _realesrgan_chain}


# ---------------------------------------------------------------- the target

def sharpen(image, weight=0.5, threshold=10, sigma=8.0, radius=25):
    """Real-ESRGAN's unsharp mask of a training target: image + weight·(image − blur) where edges are.

    The residual counts only where it exceeds ``threshold`` grey levels
    (with a soft mask), so flat areas and noise stay as they were.
    """
    taps = tf.range(-radius, radius + 1, dtype=tf.float32)
    line = tf.exp(-0.5 * (taps / sigma) ** 2)
    kernel = line[:, None] * line[None, :]
    kernel = kernel / tf.reduce_sum(kernel)
    residual = image - blur(image, kernel)
    soft_mask = blur(tf.cast(tf.abs(residual) > threshold, tf.float32), kernel)
    sharp = tf.clip_by_value(image + weight * residual, 0, 255)
    return soft_mask * sharp + (1 - soft_mask) * image
