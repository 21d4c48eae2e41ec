"""The int8 graph's rewrites: the same function in float, an exact residual stream in int8."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from test_export import trained_tiny

from tfsr.data import resolve
from tfsr.deploy.int8_graph import int8_graph, residual_chain
from tfsr.deploy.quantization import calibrated_ranges, quantized_graph
from tfsr.deploy.verify import calibration_patches
from tfsr.inference.graph import deployable
from tfsr.layers import ChannelSlice


@pytest.fixture(scope="module")
def patches():
    return calibration_patches(resolve("sample", 2), count=8, size=32)


def _lr(size=40):
    source = resolve("sample", 2, split="valid")
    return source.load(0)[0][None, :size, :size].astype(np.float32)


@pytest.mark.parametrize("arch", ["wdsr_b", "edsr_baseline"])
def test_rewritten_graph_computes_the_export_graph(arch, patches):
    model, _ = trained_tiny(arch, 2)
    graph = deployable(model)
    start, chain = residual_chain(graph)
    assert start.name == "head" and [add.name for add in chain] == ["body_block0_add", "body_block1_add"]
    rewritten, fixed = int8_graph(deployable(model), calibrated_ranges(graph, patches))
    assert {"body_block0_step", "body_block1_carry", "normalize", "head_copy3_carry"} <= set(fixed)
    assert ({"tail", "skip"} <= set(fixed)) == (arch == "wdsr_b")  # WDSR's two output branches are dithered
    views = {"body_block1_view_copy1", "body_block1_view_copy1_offset"}  # WDSR's: dithered copies
    assert (views <= set(fixed)) == (arch == "wdsr_b")  # EDSR's stream also feeds an addition: one plain view
    lr = _lr()
    difference = np.abs(np.asarray(rewritten(lr)) - np.asarray(graph(lr)))
    assert difference[:, 8:-8, 8:-8].max() < 1e-3 and difference.max() < 0.1  # grey levels


def _stream_error(quantized, lr, last_add, carry):
    """Max |int8 stream − (int8 head + Σ int8 branches)| after the last addition, and the additions' grid step."""
    twin = quantized.layers[-1]
    slices = [layer for layer in twin.layers if isinstance(layer, ChannelSlice)]  # the head's dithered copies
    names = ["head"] + [f"body_block{k}_reduce" for k in range(2)] + [last_add] + ([carry] if carry else [])
    probe = keras.Model(twin.input, [twin.get_layer(f"{name}_int8").output for name in names])
    head, *values = [np.asarray(v) for v in probe(quantized.get_layer("input_range")(lr))]
    heads = [head[..., s.start:s.stop] for s in slices] or [head]
    values = heads + values
    exact = sum(values[:len(heads) + 2])
    stream = values[len(heads) + 2] + (values[-1] if carry else 0)
    quant = twin.get_layer(f"{last_add}_int8").output_quant
    step = (float(quant.high) - float(quant.low)) / 255
    return np.abs(stream - exact).max(), step, len(heads)


def test_compensated_stream_carries_what_the_int8_blocks_added(patches):
    model, _ = trained_tiny("wdsr_b", 2)
    lr = _lr()
    error, step, heads = _stream_error(quantized_graph(model, patches)[1], lr, "body_block1_add", "body_block1_carry")
    assert heads == 4  # the head's dithered copies, added into the stream like branches
    assert error < 0.1 * step  # hi + lo: only the carry's and the errors' fine roundings remain
    plain, plain_step, _ = _stream_error(quantized_graph(model, patches, rewrite=False)[1], lr, "body_block1_add",
                                         None)
    assert plain > 0.4 * plain_step  # each requantized addition rounds by up to half a level


def test_mean_subtraction_is_exact_in_int8(patches):
    model, _ = trained_tiny("wdsr_b", 2)
    _, quantized = quantized_graph(model, patches)
    twin = quantized.layers[-1]
    lr = _lr()
    probe = keras.Model(twin.input, twin.get_layer("normalize_int8").output)
    offset = -twin.get_layer("normalize_int8").inner.bias.numpy()[:3]
    assert np.all(offset == np.round(offset)) and len(set(offset)) == 1
    subtracted = np.asarray(probe(lr))
    assert np.array_equal(subtracted[..., :3], lr - offset)
    assert len(np.unique(subtracted[..., 3])) == 1  # the constant channel that carries the means


def test_dithered_copies_sum_to_the_output_branches_on_a_finer_grid(patches):
    model, _ = trained_tiny("wdsr_b", 2)
    _, quantized = quantized_graph(model, patches)
    twin = quantized.layers[-1]
    tail = twin.get_layer("tail_int8")
    copies = tail.inner.filters // 12
    assert copies > 1
    view, rounded = keras.Model(twin.input, [tail.input, tail.output])(quantized.get_layer("input_range")(_lr()))
    unrounded = tf.nn.conv2d(view, tail.int8_kernel(), 1, "SAME") + tail.inner.bias

    def summed(x):  # copy i of channel o sits at (o // 3)·3·copies + 3i + o % 3
        x = np.asarray(x)
        return x.reshape(x.shape[:3] + (-1, copies, 3)).sum(axis=-2)

    error = np.abs(summed(rounded) - summed(unrounded))
    step = (float(tail.output_quant.high) - float(tail.output_quant.low)) / 255
    assert 0.1 * step < error.max() < 0.5 * step + 1e-3  # one rounding on the copies' grid
    one_tensor = copies * step / np.sqrt(12)  # the RMS rounding of one tensor holding the whole branch
    assert np.sqrt(np.mean(error ** 2)) < 0.35 * one_tensor


def test_views_hold_the_stream_on_a_finer_grid(patches):
    model, _ = trained_tiny("wdsr_b", 2)
    _, quantized = quantized_graph(model, patches)
    twin = quantized.layers[-1]
    names = ["body_block1_add", "body_block1_carry", "body_block1_view_copy0", "body_block1_view_copy1"]
    probe = keras.Model(twin.input, [twin.get_layer(f"{name}_int8").output for name in names])
    hi, lo, *views = [np.asarray(v) for v in probe(quantized.get_layer("input_range")(_lr()))]
    quant = twin.get_layer("body_block1_view_copy0_int8").output_quant
    step = (float(quant.high) - float(quant.low)) / 255
    error = np.abs(np.mean(views, axis=0) - (hi + lo))
    assert 0.1 * step < error.max() < 0.3 * step  # one rounding on a grid half a view's (plain: up to 0.5)
    assert np.sqrt(np.mean(error ** 2)) < 0.2 * step  # a view's own rounding: 0.29 step RMS
    tail = twin.get_layer("tail_int8").inner
    assert tail.kernel.shape[2] == 2 * deployable(model).get_layer("tail").kernel.shape[2]  # it reads both copies
