"""Discriminators for adversarial SR training: they score HR-size images, real or super-resolved.

- ``unet``: Real-ESRGAN's U-Net with spectral normalisation (Wang et al.
  2021): three stride-2 4×4 convs down, bilinear ×2 and a 3×3 conv up with
  skips, two more convs and a 1-channel map. It gives a real/fake logit per
  pixel, so it judges local texture and global structure at once.
- ``patch``: a PatchGAN (Isola et al. 2017) with spectral normalisation: the
  same three stride-2 convs and a 1-channel map at 1/8 size, each logit seeing
  a 46×46 patch. About a third of the U-Net's multiply-adds.

Inputs are RGB in [0, 255]; ``features`` is the width of the first layer
(Real-ESRGAN: 64).
"""
import keras

from tfsr.layers import Normalize

DISCRIMINATORS = ("unet", "patch")


def _conv(x, filters, kernel, name, strides=1, spectral=True, activation=True):
    layer = keras.layers.Conv2D(filters, kernel, strides, padding="same", use_bias=not spectral, name=name)
    if spectral:
        layer = keras.layers.SpectralNormalization(layer, name=f"{name}_sn")
    x = layer(x)
    return keras.layers.LeakyReLU(0.2, name=f"{name}_lrelu")(x) if activation else x


def _down(x, features):
    """The first conv and three stride-2 4×4 convs: the features at full, 1/2, 1/4 and 1/8 size."""
    skips = [_conv(x, features, 3, "conv0", spectral=False)]
    for i, width in enumerate((2 * features, 4 * features, 8 * features), start=1):
        skips.append(_conv(skips[-1], width, 4, f"conv{i}", strides=2))
    return skips


def unet_discriminator(features=64, name="unet_discriminator"):
    """Real-ESRGAN's ``UNetDiscriminatorSN``: a logit per pixel."""
    inputs = keras.Input((None, None, 3), name="image")
    x0, x1, x2, x3 = _down(Normalize(127.5, name="normalize")(inputs), features)
    x = x3
    for i, (skip, width) in enumerate(((x2, 4 * features), (x1, 2 * features), (x0, features)), start=4):
        x = keras.layers.UpSampling2D(2, interpolation="bilinear", name=f"up{i}")(x)
        x = _conv(x, width, 3, f"conv{i}")
        x = keras.layers.Add(name=f"skip{i}")([x, skip])
    x = _conv(x, features, 3, "conv7")
    x = _conv(x, features, 3, "conv8")
    outputs = _conv(x, 1, 3, "conv9", spectral=False, activation=False)
    return keras.Model(inputs, outputs, name=name)


def patch_discriminator(features=64, name="patch_discriminator"):
    """A spectrally normalised PatchGAN: a logit per 8×8 block, each seeing a 46×46 patch."""
    inputs = keras.Input((None, None, 3), name="image")
    x = _down(Normalize(127.5, name="normalize")(inputs), features)[-1]
    x = _conv(x, 8 * features, 3, "conv4")
    outputs = _conv(x, 1, 3, "conv5", spectral=False, activation=False)
    return keras.Model(inputs, outputs, name=name)


def build_discriminator(kind="unet", features=64):
    """The discriminator named ``kind`` (see `DISCRIMINATORS`)."""
    builders = {"unet": unet_discriminator, "patch": patch_discriminator}
    if kind not in builders:
        raise ValueError(f"unknown discriminator {kind!r} ({', '.join(DISCRIMINATORS)})")
    return builders[kind](features)
