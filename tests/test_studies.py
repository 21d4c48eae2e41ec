"""The studies' instruments (tools/studies/int8_budget.py, chain_noise.py, interpolation_sweep.py,
jpeg_block_phase.py, untrained_models.py): they measure what they say."""
import sys
from pathlib import Path

import numpy as np
import pytest
from test_export import trained_tiny

from tfsr.data import resolve
from tfsr.deploy.quantization import quantized_graph, tensor_groups, to_int8
from tfsr.deploy.verify import calibration_patches, compare_predictor
from tfsr.inference.runtime import LiteRTPredictor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools" / "studies"))
from chain_noise import YCC, noise
from int8_budget import correct_biases, quantization_budget
from interpolation_sweep import blend_outputs, choose, remembered
from jpeg_block_phase import edge_mask, phase_errors, phase_gain
from lone_pixels import lone_pixels
from untrained_models import main as untrained_models


def test_bias_correction_leaves_every_int8_convolution_unbiased():
    model, _ = trained_tiny("wdsr_b", 2)
    patches = calibration_patches(resolve("sample", 2), count=8, size=32)
    _, quantized = quantized_graph(model, patches)
    first = correct_biases(model, quantized, patches)
    assert max(first.values()) > 1e-3  # int8 weights and activations do shift the means
    # Corrected in graph order, each layer's mean error was measured on its final input: nothing is left
    # but what the second pass's own micro-shifts do by flipping a few roundings downstream.
    assert max(correct_biases(model, quantized, patches).values()) < 5e-3 * max(first.values())


def test_quantization_budget_prices_each_part_and_the_whole_matches_the_int8_file():
    model, scale = trained_tiny("wdsr_b", 2)
    source = resolve("sample", 2)
    valid = resolve("sample", 2, split="valid")
    patches = calibration_patches(source, count=8, size=32)
    graph, quantized = quantized_graph(model, patches)
    groups = tensor_groups(graph)
    assert set(groups) == {"normalize", "head", "head_add", "head_view", "body_block*_expand", "body_block*_low_rank",
                           "body_block*_reduce", "body_block*_add", "body_block*_view", "tail", "skip", "add_skip"}
    assert sorted(groups["body_block*_add"]) == sorted(
        ["body_block0_add", "body_block0_step", "body_block0_error", "body_block0_carry",
         "body_block1_add", "body_block1_step", "body_block1_error", "body_block1_carry"])
    rows = {row["part"]: row for row in quantization_budget(model, patches, valid)}
    assert len(rows) == 4 + len(groups)
    converted = compare_predictor(model, scale, LiteRTPredictor(to_int8(quantized)), valid)
    assert abs(rows["everything"]["drop"] - converted["psnr_drop"]) < 0.02
    # The output's [0, 255] range rounds to whole grey levels, as scoring does anyway: it costs nothing
    # (beyond the input offset's border rounding, a few hundredths of a grey level on a few pixels).
    assert abs(rows["outputs of add_skip"]["drop"]) < 1e-4
    assert rows["weights"]["psnr"] != rows["float"]["psnr"]


def test_noise_estimator_reads_white_noise_sigma_in_luma_and_chroma_and_ignores_smooth_content():
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, 128)[None, :, None] + np.linspace(0, 40, 128)[:, None, None]  # smooth: no noise
    assert max(noise(np.repeat(ramp, 3, axis=2))) < 1e-9
    grey = ramp + rng.normal(0, 10, (128, 128, 1))  # the same σ in R, G and B: luma noise only
    luma, chroma = noise(np.repeat(grey, 3, axis=2))
    assert 8.5 < luma < 9.5 and chroma < 1e-9  # 5-15 % low: the flattest blocks are the noise's quiet ones
    colour = np.linalg.solve(YCC.T, np.stack([np.zeros((128, 128)), *rng.normal(0, 8, (2, 128, 128))], -1)[..., None])
    luma, chroma = noise(128 + colour[..., 0])  # Cb, Cr each σ 8, luma untouched: chroma σ √2·8
    assert luma < 1e-6 and 0.85 < chroma / (8 * np.sqrt(2)) < 0.95


def test_interpolation_sweep_chooses_the_most_natural_weight_that_keeps_bicubics_psnr_everywhere():
    def row(jpeg, classical, niqe):
        return {"jpeg:75": {"psnr": jpeg, "niqe": niqe}, "classical": {"psnr": classical}}
    results = {"bicubic": row(25.0, 24.0, 8.0), 0.25: row(26.0, 25.0, 7.5), 0.5: row(25.2, 24.2, 6.5),
               0.75: row(25.3, 24.05, 5.5), 1.0: row(24.5, 23.5, 5.0)}
    assert choose(results, margin=0.1) == 0.5  # 0.75 misses the margin on classical, 1.0 falls below bicubic
    assert choose(results, margin=0.0) == 0.75
    assert choose(results, margin=2.0) is None


def test_interpolation_sweep_blends_images_pixel_by_pixel_when_asked_to_blend_outputs():
    lr = np.zeros((2, 2, 3), np.uint8)
    gan, l1 = (lambda x: np.full((8, 8, 3), 200, np.uint8)), (lambda x: np.full((8, 8, 3), 11, np.uint8))
    np.testing.assert_array_equal(blend_outputs(gan, l1, 0.25)(lr), np.full((8, 8, 3), 58, np.uint8))  # 58.25
    np.testing.assert_array_equal(blend_outputs(gan, l1, 0.5)(lr), np.full((8, 8, 3), 106, np.uint8))  # 105.5 up
    assert blend_outputs(gan, l1, 1.0)(lr).dtype == np.uint8


def test_an_output_sweep_upscales_each_image_once_whatever_the_number_of_weights():
    calls = []
    upscale = remembered(lambda lr: calls.append(lr.copy()) or np.repeat(lr, 2, axis=0))
    a, b = np.zeros((2, 2, 3), np.uint8), np.ones((2, 2, 3), np.uint8)
    for _ in range(3):
        np.testing.assert_array_equal(upscale(a), np.zeros((4, 2, 3), np.uint8))
        np.testing.assert_array_equal(upscale(b), np.ones((4, 2, 3), np.uint8))
    assert len(calls) == 2


def test_block_phase_puts_each_hr_pixel_at_its_lr_pixels_place_in_the_jpeg_block():
    """x4: HR pixels 4k..4k+3 come from LR pixel k, whose JPEG phase is k mod 8; the error of every HR pixel is
    counted once, at its phase, and a model that errs only on block edges gains only inside them."""
    scale, lr_size = 4, 24
    phase = (np.arange(lr_size * scale) // scale) % 8
    hr = np.zeros((lr_size * scale, lr_size * scale, 3))
    on_edge = edge_mask()[phase[:, None], phase[None, :]]
    model = np.where(on_edge[..., None], 2.0, hr)  # two grey levels off on edge phases only
    bicubic = np.ones_like(hr)  # one grey level off everywhere
    model_sums, counts = phase_errors(model, hr, scale)
    bicubic_sums, _ = phase_errors(bicubic, hr, scale)
    per_axis = np.array([8, 12, 12, 12, 12, 12, 12, 8])  # the shave drops LR pixel 0 (phase 0) and 23 (phase 7)
    np.testing.assert_array_equal(counts, np.outer(per_axis, per_axis))
    luma_step = 219 / 255  # Y of one grey level in R, G and B (MATLAB's luma weights sum to 219/255)
    np.testing.assert_allclose(bicubic_sums, counts * luma_step ** 2)
    edge = edge_mask()
    assert np.all(model_sums[~edge] == 0)
    np.testing.assert_allclose(model_sums[edge], 4 * bicubic_sums[edge])
    gains = phase_gain(model_sums + 1e-9, bicubic_sums)
    assert gains["edge"] == pytest.approx(10 * np.log10(1 / 4)) and gains["inner"] > 90


def test_lone_pixels_counts_single_bright_pixels_not_bright_edges_or_pairs():
    image = np.full((12, 12, 3), 100, np.uint8)
    image[3, 3] = 160  # lone: 60 above every neighbour
    image[8, 2:10] = 200  # a bright line: each of its pixels has a bright neighbour
    image[5, 8] = image[5, 9] = 220  # a bright pair
    image[1, 9] = 120  # 20 above: under the margin
    assert lone_pixels(image, 25) == 1
    assert lone_pixels(image, 15) == 2


def test_untrained_models_are_the_sizes_they_name(tmp_path, capsys):
    import keras
    untrained_models(["wdsr_b", "32x8x6", "24x12", "--output", str(tmp_path)])
    assert capsys.readouterr().out.splitlines() == [f"{tmp_path}/wdsr_b_32x8x6.keras: 167,680 parameters",
                                                    f"{tmp_path}/wdsr_b_24x12.keras: 142,896 parameters"]
    model = keras.saving.load_model(tmp_path / "wdsr_b_32x8x6.keras")
    assert sum(1 for layer in model.layers if layer.name.endswith("_expand")) == 8
    assert model.get_layer("body_block0_expand").output.shape[-1] == 192  # 32 features, expansion 6
