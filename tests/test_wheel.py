"""The product as a user installs it: the wheel in a fresh venv, its console scripts run outside the clone.

The venv sees the running environment's site-packages, whatever it is (a
venv, conda or the system Python), through a ``.pth`` file, so TensorFlow and
the rest are not downloaded again; but it has its own tfsr: the wheel's, with
its entry points and package data (the presets' float files). (A venv made
with ``system_site_packages`` would see the base interpreter's packages
instead, which lack them inside a venv.) A missing entry point, module or
package-data file fails here.
"""
import json
import os
import site
import subprocess
import sys
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import random_image
from PIL import Image
from test_importers import synthetic_layers, write_keras2_h5

from tfsr.models import build

pytestmark = pytest.mark.slow  # builds the wheel and installs it in a fresh venv

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin folder, a working folder outside the repository) with the wheel installed."""
    where = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(where / "dist"), str(ROOT)], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    venv.create(where / "venv", with_pip=False)
    own = next((where / "venv" / "lib").glob("python*/site-packages"))
    (own / "_running_environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    bin_dir = where / "venv" / "bin"
    wheel = next((where / "dist").glob("tfsr-*.whl"))
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), "install", "-q",
                              "--no-deps", "--no-index", str(wheel)], capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stderr[-3000:]
    work = where / "work"
    work.mkdir()
    rng = np.random.default_rng(0)
    (work / "images").mkdir()
    Image.fromarray(random_image(rng, 40, 36)).save(work / "images" / "photo.png")
    (work / "damaged").mkdir()
    Image.fromarray(random_image(rng, 40, 36)).save(work / "damaged" / "good.png")
    (work / "damaged" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 8)
    tiny = build("wdsr_b", 2, blocks=1, features=8)
    tiny.save(work / "tiny.keras")
    write_keras2_h5(work / "weights.h5", synthetic_layers(rng, "wdsr_a", True))
    (work / "junk.h5").write_bytes(b"junk")
    return bin_dir, work


def run(installed, command, *args):
    bin_dir, work = installed
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TFSR_MODELS")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return subprocess.run([str(bin_dir / command), *map(str, args)], cwd=work, env=env, capture_output=True,
                          text=True, check=False, timeout=600)


def test_the_wheel_carries_its_own_tfsr_and_the_presets(installed):
    out = run(installed, "python", "-c", "import tfsr, tfsr.models.presets as p; from tfsr.models import pretrained; "
              "print(tfsr.__file__); print(p.preset_file('wdsr_b_x4')); print(pretrained('wdsr_b_x4').count_params())")
    assert out.returncode == 0, out.stderr[-2000:]
    package, preset, params = out.stdout.split()[-3:]
    venv_dir = str(installed[0].parent)
    assert package.startswith(venv_dir) and preset.startswith(venv_dir)  # not the clone's files
    assert preset.endswith("tfsr/models/weights/wdsr_b_x4.keras") and int(params) == 316_816


def test_console_scripts_upscale_export_evaluate_and_import(installed):
    work = installed[1]
    upscaled = run(installed, "tfsr-upscale", "--model", "wdsr_b_x4", "images/photo.png", "--output", "sr")
    assert upscaled.returncode == 0, upscaled.stderr[-2000:]
    assert Image.open(work / "sr" / "photo.png").size == (144, 160)
    exported = run(installed, "tfsr-export", "tiny.keras", "tiny_int8.tflite", "--quantize", "int8",
                   "--num-calibration", "8", "--calibration-size", "24")
    assert exported.returncode == 0, exported.stderr[-2000:]  # within the default 0.1 dB gate
    report = json.loads((work / "tiny_int8.tflite.json").read_text())
    assert report["passed"] and "FLOAT32" not in report["tensor_types"] and report["calibration"]["patches"] == 8
    assert report["psnr_to_keras"] > 45  # measured 53.4 dB: the int8 file computes what the float model does
    evaluated = run(installed, "tfsr-evaluate", "--model", "wdsr_b_x2", "--dataset", "images", "--json", "r.json")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    scores = json.loads((work / "r.json").read_text())
    assert [image["name"] for image in scores["images"]] == ["photo"] and scores["psnr"] > 20
    imported = run(installed, "tfsr-import-weights", "weights.h5", "--format", "krasserm", "--output", "w.keras")
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert "wdsr_a_x4" in imported.stdout


# Every command's bad input through its console script: one line naming the file, a non-zero exit, no traceback.
BAD_INPUTS = [
    ("tfsr-upscale", ["--model", "nothere.keras", "images/photo.png", "--output", "o"], "nothere.keras"),
    ("tfsr-upscale", ["missing_folder", "--output", "o"], "missing_folder"),
    ("tfsr-upscale", ["damaged/broken.png", "--output", "o"], "damaged/broken.png"),
    ("tfsr-evaluate", ["--model", "nothere.keras", "--dataset", "images"], "nothere.keras"),
    ("tfsr-evaluate", ["--model", "wdsr_b_x2", "--dataset", "/nonexist"], "/nonexist"),
    ("tfsr-evaluate", ["--model", "wdsr_b_x2", "--dataset", "damaged"], "damaged/broken.png"),
    ("tfsr-export", ["nothere.keras", "o.tflite"], "nothere.keras"),
    ("tfsr-export", ["tiny.keras", "o.tflite", "--verify-data", "/nonexist"], "/nonexist"),
    ("tfsr-export", ["tiny.keras", "o.tflite", "--verify-data", "damaged"], "damaged/broken.png"),
    ("tfsr-train", ["--dataset", "images", "--eval-dataset", "images", "--patch-size", "8", "--init-from",
                    "nothere.keras", "--output", "t1"], "nothere.keras"),
    ("tfsr-train", ["--dataset", "/nonexist", "--output", "t2"], "/nonexist"),
    ("tfsr-train", ["--dataset", "damaged", "--eval-dataset", "images", "--patch-size", "8", "--output", "t3"],
     "damaged/broken.png"),
    ("tfsr-tune", ["--arch", "wdsr_b", "--dataset", "/nonexist", "--output", "u1"], "/nonexist"),
    ("tfsr-tune", ["--arch", "wdsr_b", "--dataset", "damaged", "--eval-dataset", "images", "--patch-size", "8",
                   "--output", "u2"], "damaged/broken.png"),
    ("tfsr-ship", ["nothere.keras", "--data-dir", "images", "--calibration", "images"], "nothere.keras"),
    ("tfsr-import-weights", ["nothere.h5", "--format", "krasserm", "--output", "x.keras"], "nothere.h5"),
    ("tfsr-import-weights", ["junk.h5", "--format", "krasserm", "--output", "x.keras"], "junk.h5"),
    ("tfsr-interpolate", ["nothere.keras", "tiny.keras", "--weight", "0.5", "--output", "x.keras"], "nothere.keras"),
]


def test_console_scripts_report_bad_input_in_one_line(installed):
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda case: run(installed, case[0], *case[1]), BAD_INPUTS))
    for (command, args, named), out in zip(BAD_INPUTS, results):
        last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ""
        assert out.returncode != 0, (command, args, out.stdout[-500:])
        assert "Traceback" not in out.stderr, (command, args, out.stderr[-2000:])
        assert last.startswith("error: ") and named in last, (command, args, out.stderr[-1000:])
    work = installed[1]
    # Nothing half-written: no outputs, and no run folder for a run whose data was missing or bad.
    left = [name for name in ("o.tflite", "x.keras", "o", "t2", "t3", "u1", "u2") if (work / name).exists()]
    assert left == []
