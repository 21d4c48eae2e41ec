"""No-reference metrics: NIQE against MATLAB, the checkerboard peak, and the evaluate/upscale commands using them."""
import json

import numpy as np
import pytest
from conftest import random_image, shared_path
from PIL import Image

from tfsr import evaluate as evaluate_cli
from tfsr.data import imresize, read_image
from tfsr.niqe import _aggd, niqe, pristine_model
from tfsr.spectrum import grid_peak, grid_peaks


def test_niqe_matches_matlab_on_baboon():
    baboon = read_image(shared_path("benchmark", "Set14", "HR", "baboon.png"))
    assert niqe(baboon) == pytest.approx(5.7296, abs=0.001)  # MATLAB R2021a, niqe(imread('baboon.png'))


def test_niqe_rates_a_blurred_or_noisy_photo_less_natural():
    baboon = read_image(shared_path("benchmark", "Set14", "HR", "baboon.png"))
    blurred = imresize(imresize(baboon, 1 / 4), 4)
    noisy = np.clip(baboon + np.random.default_rng(0).normal(0, 25, baboon.shape), 0, 255)
    assert niqe(blurred) > niqe(baboon) + 1.5 and niqe(noisy) > niqe(baboon) + 1.5


def test_the_pristine_model_is_bundled_and_whole():
    mean, cov = pristine_model()
    assert mean.shape == (36,) and cov.shape == (36, 36)
    np.testing.assert_allclose(cov, cov.T)
    assert mean[0] == pytest.approx(2.6013, abs=1e-4)  # the shape of the first generalised Gaussian


@pytest.mark.parametrize("shape, sample", [(1.0, lambda r, n: r.laplace(0, 1, n)),
                                           (2.0, lambda r, n: r.normal(0, 1, n))])
def test_the_generalised_gaussian_fit_finds_the_shape(shape, sample):
    values = sample(np.random.default_rng(0), (1, 200_000))
    alpha, left, right = _aggd(values)
    assert alpha[0] == pytest.approx(shape, abs=0.05)
    assert left[0] == pytest.approx(right[0], rel=0.02)


def test_niqe_needs_one_block():
    with pytest.raises(ValueError, match="at least 96×96"):
        niqe(np.zeros((95, 200, 3)))


def test_grid_peak_finds_a_pixel_shuffle_checkerboard():
    hr = read_image(shared_path("benchmark", "Set14", "HR", "baboon.png")).astype(np.float64)
    bicubic = imresize(imresize(hr, 1 / 4), 4)
    tiles = np.random.default_rng(0).uniform(-1.5, 1.5, (4, 4, 1))
    checkerboard = bicubic[:480] + np.tile(tiles, (120, 125, 3))
    assert grid_peak(hr, 4) < 6 and grid_peak(bicubic, 4) < 0
    assert grid_peak(checkerboard, 4) > 30
    assert set(grid_peaks(bicubic, 4)) == {(y, x) for y in range(4) for x in range(4)} - {(0, 0)}
    assert grid_peak(checkerboard, 2) > 30 and grid_peak(bicubic, 2) < 0  # k/4 includes the 1/2 lines


def test_evaluate_scores_niqe_on_a_set_and_on_photos_without_hr(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        Image.fromarray(random_image(rng, 40, 44)).save(folder / f"{name}.png")
    out = tmp_path / "r.json"
    assert evaluate_cli.main(["--arch", "bicubic", "--scale", "4", "--inputs", str(folder), "--json",
                              str(out)]) in (None, 0)
    result = json.loads(out.read_text())
    assert [i["name"] for i in result["images"]] == ["a", "b"] and "psnr" not in result
    for image in result["images"]:  # the table holds what the metric gives for the saved output
        sr = imresize(read_image(folder / f"{image['name']}.png"), 4)
        assert image["niqe"] == pytest.approx(niqe(sr, shave=4), abs=1e-9)
        assert image["grid"] == pytest.approx(grid_peak(sr, 4), abs=1e-9)
    assert result["niqe"] == pytest.approx(np.mean([i["niqe"] for i in result["images"]]))
    assert "NIQE" in capsys.readouterr().out


def test_evaluate_adds_niqe_beside_psnr_on_a_benchmark(benchmark_root, tmp_path):
    out = tmp_path / "r.json"
    evaluate_cli.main(["--arch", "bicubic", "--scale", "4", "--dataset", "set5", "--data-dir", str(benchmark_root),
                       "--metrics", "psnr,niqe", "--json", str(out)])
    result = json.loads(out.read_text())
    assert result["psnr"] == pytest.approx(28.43, abs=0.01) and "ssim" not in result
    assert 7 < result["niqe"] < 11  # bicubic x4 is blurred: well above natural photos' 3-5


def test_psnr_on_photos_without_hr_is_a_one_line_error(tmp_path):
    import subprocess
    import sys
    Image.fromarray(random_image(np.random.default_rng(0), 30, 30)).save(tmp_path / "a.png")
    out = subprocess.run([sys.executable, "-m", "tfsr.evaluate", "--arch", "bicubic", "--scale", "4", "--inputs",
                          str(tmp_path / "a.png"), "--metrics", "psnr,niqe"], capture_output=True, text=True, check=False)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: --inputs have no HR: psnr cannot be scored (use --metrics niqe,grid, or --dataset with HR images)"]


def test_upscale_compare_page_shows_niqe_of_every_panel(tmp_path):
    import keras

    from tfsr import upscale as upscale_cli
    from tfsr.models import build
    keras.utils.set_random_seed(0)
    build("wdsr_b", 4, blocks=1, features=8).save(tmp_path / "m.keras")
    image = random_image(np.random.default_rng(1), 40, 44)
    Image.fromarray(image).save(tmp_path / "a.png")
    upscale_cli.main(["--model", str(tmp_path / "m.keras"), str(tmp_path / "a.png"), "--output", str(tmp_path / "sr"),
                      "--compare", str(tmp_path / "page.html")])
    text = (tmp_path / "page.html").read_text()
    bicubic_niqe = niqe(imresize(image, 4), shave=4)
    model_niqe = niqe(read_image(tmp_path / "sr" / "a.png"), shave=4)
    assert f"bicubic  NIQE {bicubic_niqe:.2f}" in text and f"m.keras  NIQE {model_niqe:.2f}" in text
    assert "<th>bicubic NIQE</th><th>m.keras NIQE</th>" in text and f"<td>{model_niqe:.3f}</td>" in text


def test_compare_pages_score_niqe_without_tensorflow(tmp_path):
    import subprocess
    import sys
    Image.fromarray(random_image(np.random.default_rng(2), 30, 28)).save(tmp_path / "photo.png")
    code = (f"import sys\nfrom tfsr import upscale\n"
            f"status = upscale.main([{str(tmp_path / 'photo.png')!r}, '--output', {str(tmp_path / 'sr')!r}, "
            f"'--compare', {str(tmp_path / 'page.html')!r}])\n"
            f"print('status', status, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.stdout.strip().splitlines()[-1] == "status 0 False False", out.stderr[-2000:]
    assert "<th>bicubic NIQE</th>" in (tmp_path / "page.html").read_text()  # 120×112: one NIQE block


def test_evaluate_scores_the_images_a_run_held_out(tmp_path):
    import keras

    from tfsr.training import TrainConfig, train
    keras.utils.set_random_seed(0)
    config = TrainConfig(arch="wdsr_b", dataset="sample", blocks=1, features=8, patch_size=16, batch_size=2,
                         steps=2, eval_every=2, checkpoint_every=2, hold_out=2, eval_degradation="jpeg:75",
                         output=str(tmp_path / "run"))
    train(config, log=lambda *_: None)
    out = tmp_path / "r.json"
    evaluate_cli.main(["--model", str(tmp_path / "run" / "last.keras"), "--dataset", "sample", "--hold-out", "2",
                       "--degradation", "jpeg:75", "--backend", "function", "--json", str(out)])
    result = json.loads(out.read_text())
    import csv
    with open(tmp_path / "run" / "metrics.csv") as f:
        validated = float(list(csv.DictReader(f))[-1]["val_psnr"])
    assert [i["name"] for i in result["images"]] == ["coffee", "gravel"]  # every 2.5th of 5: the run's own two
    assert result["psnr"] == pytest.approx(validated, abs=1e-3)  # what the run validated on
