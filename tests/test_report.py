"""Before/after pages: the gain region, and the page rendered by a real headless Chromium."""
import html
import re
import shutil
import subprocess

import numpy as np
import pytest
from conftest import random_image
from PIL import Image

from tfsr.report import VIEW, ZOOM, comparison_item, gain_region, page, scores_table

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def browser():
    found = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    if found is None:
        pytest.skip("no headless Chromium on this machine (.ci/run installs Debian's chromium where it can)")
    return found


def test_gain_region_finds_where_the_model_beats_bicubic(rng):
    hr = random_image(rng, 120, 160).astype(np.float64)
    bicubic = hr + rng.normal(0, 4, hr.shape)
    sr = hr + rng.normal(0, 4, hr.shape)
    bicubic[70:100, 20:50] += 40  # bicubic is badly wrong here, the model is not
    y, x = gain_region(bicubic, sr, hr, size=30)
    assert abs(y - 85) <= 2 and abs(x - 35) <= 2
    sr_only = bicubic.copy()
    sr_only[10:40, 100:130] += 60  # without HR: where SR departs most from bicubic
    assert np.abs(np.array(gain_region(bicubic, sr_only, size=30)) - (25, 115)).max() <= 2


def test_page_renders_the_gain_region_in_chromium(tmp_path, rng):
    chromium = browser()
    hr = random_image(rng, 96, 128)
    bicubic = np.clip(hr.astype(int) + 30 * (np.arange(128) > 80)[:, None], 0, 255).astype(np.uint8)  # wrong, right
    sr = hr.copy()
    gray_hr = random_image(rng, 80, 80, 1)
    items = [comparison_item("colour", {"bicubic": bicubic, "model": sr}, {"bicubic": (20.0, 0.5),
                                                                         "model": (30.0, 0.9)}, hr),
             comparison_item("gray", {"bicubic": np.repeat(gray_hr, 3, -1), "model": np.repeat(gray_hr, 3, -1)},
                             hr=gray_hr)]
    table = scores_table([("colour", {"bicubic": (20.0, 0.5), "model": (30.0, 0.9)})], ["bicubic", "model"])
    path = tmp_path / "report.html"
    path.write_text(page("test page", items, table))
    assert "http" not in path.read_text()  # self-contained: nothing to fetch
    dom = subprocess.run([chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
                          "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
    sections = re.findall(r'<section class="item"[^>]*>', dom)
    assert len(sections) == 2
    for section, panels in zip(sections, ([bicubic, sr, hr], [np.repeat(gray_hr, 3, -1)] * 3)):
        attributes = dict(re.findall(r'data-([a-z]+)="([^"]*)"', html.unescape(section)))
        x0, y0, size = map(int, attributes["region"].split(","))
        cx = int(attributes["cx"])
        assert size == min(VIEW // ZOOM, *panels[0].shape[:2])
        assert x0 == min(max(round(cx - size / 2), 0), panels[0].shape[1] - size)
        means = [float(m) for m in attributes["means"].split(",")]
        expected = [p[y0:y0 + size, x0:x0 + size].astype(np.float64).mean() for p in panels]
        np.testing.assert_allclose(means, expected, atol=0.01)  # each view shows exactly that crop
    first = dict(re.findall(r'data-([a-z]+)="([^"]*)"', sections[0]))
    assert int(first["cx"]) > 80  # opened where bicubic is wrong
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900",
                    "--virtual-time-budget=5000", f"--screenshot={shot}", path.as_uri()],
                   capture_output=True, timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("L"), np.float64)
    assert pixels.std() > 20  # the images are on the page, not an empty layout


def test_evaluate_and_upscale_write_their_pages(tmp_path, rng, capsys):
    import keras

    from tfsr import evaluate as evaluate_cli
    from tfsr import upscale as upscale_cli
    from tfsr.models import build
    keras.utils.set_random_seed(0)
    build("wdsr_b", 2, blocks=1, features=8).save(tmp_path / "m.keras")
    evaluate_cli.main(["--model", str(tmp_path / "m.keras"), "--dataset", "sample", "--report",
                       str(tmp_path / "eval.html")])
    text = (tmp_path / "eval.html").read_text()
    assert text.count('<section class="item"') == 2 and text.count("<img hidden") == 6  # bicubic, model, HR
    assert "m.keras PSNR" in text and "gain over bicubic" in text
    Image.fromarray(random_image(rng, 20, 24)).save(tmp_path / "a.png")
    upscale_cli.main(["--model", str(tmp_path / "m.keras"), str(tmp_path / "a.png"), "--output",
                      str(tmp_path / "sr"), "--compare", str(tmp_path / "compare.html")])
    text = (tmp_path / "compare.html").read_text()
    assert text.count('<section class="item"') == 1 and text.count("<img hidden") == 2  # no HR
    assert "before/after page written" in capsys.readouterr().out
    # Other models side by side: bicubic | each other model | the model.
    keras.utils.set_random_seed(1)
    build("wdsr_b", 2, blocks=1, features=8).save(tmp_path / "other.keras")
    upscale_cli.main(["--model", str(tmp_path / "m.keras"), str(tmp_path / "a.png"), "--output",
                      str(tmp_path / "sr"), "--compare", str(tmp_path / "three.html"), "--compare-with",
                      str(tmp_path / "other.keras")])
    text = (tmp_path / "three.html").read_text()
    assert text.count("<img hidden") == 3
    assert text.index(">bicubic<") < text.index(">other.keras<") < text.index(">m.keras<")


def test_the_perceptual_preset_beside_the_real_one_on_a_photo(tmp_path, capsys):
    """The issue's command: tfsr-upscale photo.jpg --model wdsr_b_x4_gan --compare-with wdsr_b_x4_real
    --compare page.html writes the x4 photo and a page with bicubic | wdsr_b_x4_real | wdsr_b_x4_gan, each
    with its NIQE."""
    from importlib import resources

    from tfsr import upscale as upscale_cli
    photo = Image.open(resources.files("tfsr.data") / "sample" / "train" / "rocket.jpg").convert("RGB")
    photo.resize((photo.width // 8, photo.height // 8), Image.BICUBIC).crop((0, 0, 40, 36)).save(
        tmp_path / "photo.jpg", quality=75)
    upscale_cli.main([str(tmp_path / "photo.jpg"), "--model", "wdsr_b_x4_gan", "--compare-with", "wdsr_b_x4_real",
                      "--compare", str(tmp_path / "page.html"), "--output", str(tmp_path / "sr")])
    assert Image.open(tmp_path / "sr" / "photo.png").size == (160, 144)
    text = (tmp_path / "page.html").read_text()
    assert text.count("<img hidden") == 3
    assert text.index('alt="bicubic"') < text.index('alt="wdsr_b_x4_real"') < text.index('alt="wdsr_b_x4_gan"')
    assert re.findall(r"<figcaption>([\w ]+?)  NIQE \d+\.\d\d</figcaption>", text) == [
        "bicubic", "wdsr_b_x4_real", "wdsr_b_x4_gan"]
