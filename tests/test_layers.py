import keras
import numpy as np
import pytest

from tfsr.layers import (
    DIV2K_RGB_MEAN,
    Denormalize,
    Normalize,
    PixelShuffle,
    WeightNormalization,
    fold_weight_norm,
    initialize_weight_norm_from_data,
)


def wn_conv(filters=8, kernel=3, g_init=None, name=None, **kwargs):
    conv = keras.layers.Conv2D(filters, kernel, padding="same", **kwargs)
    return WeightNormalization(conv, g_init=g_init, name=name)


def test_weight_norm_starts_with_kernel_equal_to_v(rng):
    layer = wn_conv()
    x = rng.uniform(0, 1, (2, 9, 7, 4)).astype("float32")
    layer(x)
    v = layer.layer.kernel.numpy()
    np.testing.assert_allclose(layer.g.numpy(), np.sqrt((v ** 2).sum(axis=(0, 1, 2))), rtol=1e-6)
    np.testing.assert_allclose(layer.effective_kernel().numpy(), v, rtol=1e-5, atol=1e-7)


def test_weight_norm_kernel_is_g_times_direction(rng):
    layer = wn_conv(g_init=2.0, activation="relu")
    x = rng.uniform(-1, 1, (1, 6, 5, 3)).astype("float32")
    y = layer(x).numpy()
    v = layer.layer.kernel.numpy()
    kernel = 2.0 * v / np.sqrt((v ** 2).sum(axis=(0, 1, 2)))
    np.testing.assert_allclose(np.sqrt((kernel ** 2).sum(axis=(0, 1, 2))), 2.0, rtol=1e-6)
    reference = keras.ops.relu(keras.ops.conv(x, kernel, padding="same") + layer.layer.bias).numpy()
    np.testing.assert_allclose(y, reference, rtol=1e-5, atol=1e-5)


def test_weight_norm_rejects_other_layers():
    with pytest.raises(TypeError, match="Conv2D"):
        WeightNormalization(keras.layers.Dense(3))


def test_data_dependent_init_gives_unit_variance_outputs(rng):
    inputs = keras.Input((None, None, 3))
    x = wn_conv(16, name="a")(inputs)
    outputs = wn_conv(16, name="b")(x)
    model = keras.Model(inputs, outputs)
    images = rng.uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    initialize_weight_norm_from_data(model, images)
    y = model(images).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-3)
    np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1, rtol=1e-3)


def test_pixel_shuffle_orders_channels_row_col_channel():
    x = np.arange(2 * 3 * 12, dtype="float32").reshape(1, 2, 3, 12)
    y = PixelShuffle(2)(x).numpy()
    assert y.shape == (1, 4, 6, 3)
    for i in range(2):
        for j in range(2):
            # depth_to_space: output (2h + i, 2w + j, c) = input (h, w, (i*2 + j)*3 + c)
            np.testing.assert_array_equal(y[0, i::2, j::2, :], x[0, :, :, (i * 2 + j) * 3:(i * 2 + j + 1) * 3])


def test_normalize_and_denormalize_are_inverse(rng):
    x = rng.uniform(0, 255, (1, 4, 4, 3)).astype("float32")
    z = Normalize(127.5)(x).numpy()
    np.testing.assert_allclose(z, (x - np.array(DIV2K_RGB_MEAN) * 255) / 127.5, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(Denormalize(127.5)(z).numpy(), x, rtol=1e-5, atol=1e-4)


def test_fold_weight_norm_gives_plain_convs_with_same_output(rng):
    inputs = keras.Input((None, None, 3))
    x = wn_conv(8, g_init=0.5, activation="relu", name="c1")(inputs)
    outputs = wn_conv(3, 5, name="c2")(x)
    model = keras.Model(inputs, outputs)
    folded = fold_weight_norm(model)
    assert not any(isinstance(layer, WeightNormalization) for layer in folded.layers)
    assert [layer.name for layer in folded.layers[1:]] == ["c1", "c2"]
    x = rng.uniform(0, 255, (1, 11, 13, 3)).astype("float32")
    assert np.abs(model(x).numpy() - folded(x).numpy()).max() < 1e-3
