"""Teacher sets (tfsr.teach): made from any upscaler, resumable after a kill, read as paired training data.

The teacher here is a hand-written ncnn model: a 1x1 convolution that copies each
colour to its 16 sub-pixels, then a pixel shuffle, i.e. nearest-neighbour x4
upscaling, exactly. What it makes of a crop is known to the pixel, so the set's
alignment and the training pipeline's pairing can be checked exactly.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tfsr.data.images import read_image
from tfsr.data.teacher_sets import finished_crops

ncnn = pytest.importorskip("ncnn", reason="the ncnn teacher adapter needs `pip install ncnn` (a test-only extra)")

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "tfsr" / "data" / "sample" / "train"
SMALL = ["--crop", "16", "--context", "2", "--hold-out", "1", "--valid-per-image", "2"]


def nearest_teacher(folder, scale=4):
    """An ncnn .param/.bin pair upscaling by nearest neighbour at ``scale``."""
    channels = 3 * scale * scale
    param = folder / f"nearest_x{scale}.param"
    param.write_text(f"7767517\n3 3\nInput in0 0 1 data\n"
                     f"Convolution conv0 1 1 data c0 0={channels} 1=1 5=1 6={channels * 3}\n"
                     f"PixelShuffle shuffle 1 1 c0 output 0={scale}\n")
    kernel = (np.arange(channels)[:, None] // (scale * scale) == np.arange(3)[None]).astype(np.float32)
    with open(param.with_suffix(".bin"), "wb") as f:
        f.write(np.zeros(1, np.uint32).tobytes())  # ncnn's tag: raw float32 weights follow
        f.write(kernel.tobytes())
        f.write(np.zeros(channels, np.float32).tobytes())  # bias
    return param


def teach(*args, check=True):
    return subprocess.run([sys.executable, "-m", "tfsr.teach", *map(str, args)], capture_output=True, text=True,
                          check=check, cwd=ROOT)


def nearest(lr, scale=4):
    return np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A teacher set of 12 train crops made in one go, and its teacher."""
    folder = tmp_path_factory.mktemp("teach")
    teacher = nearest_teacher(folder)
    teach(PHOTOS, "--teacher", teacher, "--count", 12, "--degradation", "jpeg:75", "--output", folder / "set",
          *SMALL)
    return folder / "set", teacher


def test_a_crop_is_its_teachers_image_of_the_degraded_lr_beside_the_photo(made):
    output, _ = made
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["teacher"]["scale"] == 4 and manifest["chain"] == "jpeg:75"
    assert len(manifest["teacher"]["files"]) == 2 and manifest["held_out"] == ["grass"]
    lines = [json.loads(line) for line in (output / "crops.jsonl").read_text().splitlines()]
    assert [c["split"] for c in lines] == ["valid"] * 2 + ["train"] * 12
    assert {c["image"] for c in lines if c["split"] == "valid"} == {"grass"}
    assert "grass" not in {c["image"] for c in lines if c["split"] == "train"}
    for crop in lines:
        lr = read_image(output / crop["split"] / "lr" / f"{crop['name']}.png")
        target = read_image(output / crop["split"] / "teacher" / f"{crop['name']}.png")
        hr = read_image(output / crop["split"] / "hr" / f"{crop['name']}.png")
        assert lr.shape == (16, 16, 3) and target.shape == hr.shape == (64, 64, 3)
        np.testing.assert_array_equal(target, nearest(lr))  # the teacher saw this LR, context cut off exactly
        photo = read_image(next(PHOTOS.glob(f"{crop['image']}.*")))
        np.testing.assert_array_equal(hr, photo[crop["y"]:crop["y"] + 64, crop["x"]:crop["x"] + 64])


def test_a_killed_teacher_set_goes_on_to_the_same_files(made, tmp_path):
    reference, teacher = made
    output = tmp_path / "set"
    command = [sys.executable, "-m", "tfsr.teach", PHOTOS, "--teacher", teacher, "--count", 12, "--degradation",
               "jpeg:75", "--output", output, *SMALL]
    process = subprocess.Popen(list(map(str, command)), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    index = output / "crops.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if index.is_file() and len(index.read_text().splitlines()) >= 4:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    killed_at = len(index.read_text().splitlines())
    assert 4 <= killed_at < 14
    result = teach(*command[3:])
    assert f"{14 - killed_at} made now" in result.stdout or f"{14 - killed_at + 1} made now" in result.stdout
    assert index.read_text() == (reference / "crops.jsonl").read_text()
    for file in sorted((reference / "train").rglob("*.png")) + sorted((reference / "valid").rglob("*.png")):
        assert (output / file.relative_to(reference)).read_bytes() == file.read_bytes(), file.name


def test_growing_the_count_adds_crops_and_another_recipe_is_refused(made, tmp_path):
    _, teacher = made
    output = tmp_path / "set"
    teach(PHOTOS, "--teacher", teacher, "--count", 2, "--output", output, *SMALL)
    grown = teach(PHOTOS, "--teacher", teacher, "--count", 3, "--output", output, *SMALL)
    assert "3 train and 2 valid crops" in grown.stdout and "1 made now" in grown.stdout
    other = teach(PHOTOS, "--teacher", teacher, "--count", 3, "--output", output, "--seed", 1, *SMALL, check=False)
    assert other.returncode == 2
    assert other.stderr.strip().splitlines() == [
        f"error: {output}: holds a teacher set made differently (seed differ); continue it with the same options "
        f"or choose another --output"]


@pytest.mark.parametrize("teacher, message", [
    ("missing.param", "error: missing.param: no such file"),
    ("ncnn:no-such-model", "error: ncnn:no-such-model: no such ncnn model (looked in"),
    ("x2", "the teacher upscales x2, not x4"),
    ("not ncnn", "not an ncnn .param file (no 7767517 magic on its first line)"),
    ("two outputs", "expected one Input layer and one output blob, found an input and 2 output(s)"),
])
def test_a_bad_teacher_is_one_line_and_writes_nothing(tmp_path, teacher, message):
    if teacher == "x2":
        teacher = nearest_teacher(tmp_path, scale=2)
    elif teacher == "not ncnn":
        teacher = nearest_teacher(tmp_path)
        teacher.write_text("Input in0 0 1 data\n")
    elif teacher == "two outputs":
        teacher = nearest_teacher(tmp_path)
        teacher.write_text(teacher.read_text().replace("3 3\n", "4 4\n") + "Split split 1 2 output o1 o2\n")
    result = teach(PHOTOS, "--teacher", teacher, "--count", 2, "--output", tmp_path / "set", *SMALL, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "set").exists()


def test_training_patches_of_a_teacher_set_keep_lr_and_target_paired_through_flips_and_rotations(made):
    from tfsr.data.pipeline import training_dataset
    from tfsr.data.teacher_sets import teacher_set
    output, _ = made
    source = teacher_set(output, 4)
    assert len(source) == 12
    assert source.describe_input() == "LR as loaded (jpeg:75 when the set was made, seed 0)"
    batches = training_dataset(source, batch_size=6, patch_size=12, seed=3).take(8)
    turned = 0
    for lr, target in batches:
        lr, target = lr.numpy(), target.numpy()
        for i in range(len(lr)):
            np.testing.assert_array_equal(target[i], nearest(lr[i]))
        turned += 1
    assert turned == 8


def test_teacher_sets_made_by_two_recipes_train_as_one(made, tmp_path):
    from tfsr.data import resolve
    from tfsr.data.images import DataError
    output, teacher = made
    other = tmp_path / "noisy"
    teach(PHOTOS, "--teacher", teacher, "--count", 3, "--degradation", "classical", "--seed", 1, "--output", other,
          *SMALL)
    both = resolve(f"{output},{other}", 4)
    assert len(both) == 12 + 3 and [pair.name.split("/")[0] for pair in both.pairs] == ["set"] * 12 + ["noisy"] * 3
    assert both.describe_input() == ("LR as loaded (classical when the set was made, seed 1; "
                                     "jpeg:75 when the set was made, seed 0)")
    assert len(resolve(f"{output},{other}", 4, split="valid")) == 2 + 2
    from tfsr.training import TrainConfig
    from tfsr.training.assembly import validation_source
    config = TrainConfig(dataset=f"{output},{other}", scale=4).resolved()
    assert config.on_teacher_set and len(validation_source(config)) == 2 + 2  # both sets' held-out crops
    with pytest.raises(DataError, match="teacher sets join only other teacher sets, not photo folders"):
        resolve(f"{output},{PHOTOS}", 4)


def test_a_share_of_the_crops_trains_towards_the_photo(made):
    from tfsr.data.teacher_sets import teacher_set, uses_teacher
    output, _ = made
    mixed = teacher_set(output, 4, teacher_share=0.5)
    kinds = [pair.hr.parent.name for pair in mixed.pairs]
    assert kinds == ["teacher" if uses_teacher(pair.name, 0.5) else "hr" for pair in mixed.pairs]
    assert 0 < kinds.count("hr") < len(kinds)
    assert {p.hr.parent.name for p in teacher_set(output, 4, teacher_share=1.0).pairs} == {"teacher"}
    assert {p.hr.parent.name for p in teacher_set(output, 4, teacher_share=0.0).pairs} == {"hr"}


def test_a_run_on_a_teacher_set_validates_on_its_held_out_crops_and_its_report_names_the_teacher(made, tmp_path):
    from tfsr.deploy.ship import run_report
    from tfsr.training import ConfigError, TrainConfig, train
    output, teacher = made
    config = TrainConfig(arch="wdsr_b", dataset=str(output), blocks=1, features=8, patch_size=12, batch_size=4,
                         steps=4, eval_every=2, checkpoint_every=2, output=str(tmp_path / "run"))
    result = train(config, log=lambda *_: None)
    assert result.final_step == 4 and len(result.history) == 2
    # bicubic against the nearest teacher's images of the two held-out crops: what validation compares to
    assert "valid" in json.loads((tmp_path / "run" / "best.json").read_text())["validation"]
    report = run_report(tmp_path / "run")  # what tfsr.ship writes into the preset's model card
    assert report["trained_on"] == "jpeg:75"
    assert report["teacher_set"]["teacher"]["spec"] == str(teacher) and report["teacher_set"]["crops"] == 12
    assert report["teacher_set"]["teacher"]["licence"] == "not stated"
    with pytest.raises(ConfigError, match="is a teacher set: .* not with --degradation, --hold-out"):
        train(TrainConfig(dataset=str(output), degradation="jpeg", hold_out=2, output=str(tmp_path / "no")))
    assert not (tmp_path / "no").exists()


def test_students_are_scored_against_the_teacher_and_the_photo_on_the_held_out_crops(made, tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "tools" / "studies"))
    import student_scores
    output, _ = made
    student_scores.main([str(output), "--json", str(tmp_path / "s.json")])
    means = json.loads((tmp_path / "s.json").read_text())["means"]
    assert means["teacher"]["psnr_teacher"] is None  # a PSNR to itself has no value
    assert means["teacher"]["texture"] == pytest.approx(
        np.mean([detail_of(output, name, "teacher")["texture"] for name in ("v000000", "v000001")]))
    # the nearest-neighbour teacher's images are blockier than bicubic's: further from the photo
    assert means["bicubic"]["psnr_photo"] > means["teacher"]["psnr_photo"]
    assert "2 held-out crops" in capsys.readouterr().out
    # --split train: how well a student fits the crops it trained on (here the first three)
    student_scores.main([str(output), "--split", "train", "--count", "3", "--json", str(tmp_path / "t.json")])
    means = json.loads((tmp_path / "t.json").read_text())["means"]
    train_names = [c["name"] for c in finished_crops(output) if c["split"] == "train"][:3]
    assert means["teacher"]["texture"] == pytest.approx(
        np.mean([detail_of(output, name, "teacher", "train")["texture"] for name in train_names]))
    assert "3 training crops" in capsys.readouterr().out


def detail_of(output, name, kind, split="valid"):
    from tfsr.detail import detail_scores
    return detail_scores(read_image(output / split / kind / f"{name}.png"),
                         read_image(output / split / "hr" / f"{name}.png"))
