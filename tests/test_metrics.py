import json

import numpy as np
import pytest
from conftest import random_image

from tfsr import evaluate as evaluate_cli
from tfsr.metrics import BENCHMARK, DIV2K, PSNR, SSIM, psnr, rgb_to_y, ssim

# Published bicubic rows (EDSR/RCAN/SwinIR tables): PSNR within 0.02 dB, SSIM within 0.002.
PUBLISHED_BICUBIC = {("set5", 2): (33.66, 0.9299), ("set5", 3): (30.39, 0.8682), ("set5", 4): (28.42, 0.8104),
                     ("set14", 2): (30.24, None), ("set14", 3): (27.55, None), ("set14", 4): (26.00, None)}


@pytest.mark.parametrize("dataset, scale", list(PUBLISHED_BICUBIC))
def test_evaluate_reproduces_published_bicubic_rows(benchmark_root, tmp_path, dataset, scale, capsys):
    out = tmp_path / "r.json"
    assert evaluate_cli.main(["--arch", "bicubic", "--scale", str(scale), "--dataset", dataset,
                              "--data-dir", str(benchmark_root), "--json", str(out)]) in (None, 0)
    result = json.loads(out.read_text())
    psnr_published, ssim_published = PUBLISHED_BICUBIC[dataset, scale]
    assert result["psnr"] == pytest.approx(psnr_published, abs=0.02)
    if ssim_published is not None:
        assert result["ssim"] == pytest.approx(ssim_published, abs=0.002)
    assert result["convention"] == f"Y (BT.601), shave {scale}"
    assert len(result["images"]) == (5 if dataset == "set5" else 14)
    assert "mean" in capsys.readouterr().out


def test_y_channel_is_matlab_rgb2ycbcr():
    assert rgb_to_y(np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0]]]))[0] == pytest.approx([16, 235, 81.481])


def test_psnr_of_a_known_error():
    hr = np.full((20, 20, 3), 100.0)
    sr = hr + 10.0  # every Y value off by 10·219/255
    expected = 10 * np.log10(255 ** 2 / (10 * 219 / 255) ** 2)
    assert psnr(sr, hr, 2) == pytest.approx(expected, abs=1e-9)
    assert psnr(sr, hr, 2, DIV2K) == pytest.approx(10 * np.log10(255 ** 2 / 100), abs=1e-9)
    assert psnr(hr, hr, 2) == float("inf")
    assert ssim(hr, hr, 2) == pytest.approx(1.0)


def test_sr_is_rounded_to_uint8_and_borders_are_shaved():
    hr = np.full((20, 20, 3), 100.0)
    sr = hr + 0.4  # rounds back to 100
    assert psnr(sr, hr, 2) == float("inf")
    sr = hr.copy()
    sr[:4, :, :] = 0  # all inside a shave of 4
    assert psnr(sr, hr, 4) == float("inf") and psnr(sr, hr, 3) < 30


def test_grayscale_hr_is_scored_on_gray_values():
    hr = np.full((16, 16, 1), 50.0)
    sr = np.full((16, 16, 3), 60.0)
    assert psnr(sr, hr, 2) == pytest.approx(10 * np.log10(255 ** 2 / 100), abs=1e-9)


@pytest.mark.parametrize("convention", [BENCHMARK, DIV2K])
def test_keras_metrics_agree_with_numpy(rng, convention):
    for channels in (3, 1):
        hr = random_image(rng, 40, 36, channels).astype(np.float32)
        sr = np.clip(np.repeat(hr, 3 // channels, -1) + rng.normal(0, 8, (40, 36, 3)), -5, 260).astype(np.float32)
        for metric, reference in ((PSNR(3, convention), psnr), (SSIM(3, convention), ssim)):
            metric.update_state(hr[None], sr[None])
            assert float(metric.result()) == pytest.approx(reference(sr, hr, 3, convention), abs=1e-9)


def test_detail_scores_measure_laplacian_energy_where_the_photo_is_textured_and_where_it_is_flat():
    from tfsr.detail import FLOOR, detail_scores, laplacian_energy
    board = 128 + 2.0 * (np.indices((48, 64)).sum(axis=0) % 2 * 2 - 1)  # +-2 grey levels
    # every pixel of a checkerboard has its 4 neighbours on the other side: a response of 8 * 2, squared
    np.testing.assert_allclose(laplacian_energy(np.repeat(board[..., None], 3, -1)), np.full((3, 4), 256.0))
    rng = np.random.default_rng(0)
    hr = np.full((64, 96, 3), 120.0)
    hr[:, 48:] += rng.normal(0, 20, (64, 48, 3))  # 16x16 blocks: 3 columns flat, 3 textured
    hr = np.clip(np.round(hr), 0, 255)
    assert detail_scores(hr, hr) == {"texture": 0.0, "flat": 0.0}
    blurred = hr.copy()
    blurred[1:-1, 1:-1] = sum(hr[1 + dy:63 + dy, 1 + dx:95 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    scores = detail_scores(blurred, hr)
    assert scores["texture"] < -1.0 and scores["flat"] == 0.0  # a blur adds nothing where it is flat
    grainy = hr.copy()
    grainy[:, :32] += rng.normal(0, 3, (64, 32, 3))  # grain in the 8 flattest blocks (the 7 scored among them)
    scores = detail_scores(grainy, hr)
    assert scores["texture"] == 0.0
    energy = laplacian_energy(grainy)[:, :2]
    assert scores["flat"] == pytest.approx(np.log10(energy / FLOOR).mean(), abs=0.05)
    assert 3 < scores["flat"] < 4  # grain of 3 grey levels against a flat floor of 0.01
