"""keras-tuner sweeps: the table, budget rejection, resume, chief + worker."""
import csv
import json
import os
import socket
import subprocess
import sys

import keras_tuner as kt
import pytest

from tfsr import tune
from tfsr.training.tuning import DEFAULT_SPACES, SRHyperModel

DATA = ["--dataset", "sample", "--batch-size", "4", "--patch-size", "16", "--eval-crop", "32",
        "--steps-per-trial", "6", "--scale", "2"]


def write_space(path, features):
    path.write_text(json.dumps({"blocks": [1], "features": features, "expansion": [2], "low_rank": [0.8],
                                "lr": [0.001]}))
    return path


def read_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_over_budget_models_are_rejected_before_training():
    hypermodel = SRHyperModel("wdsr_b", 2, {"blocks": [1], "features": [96], "expansion": [2], "low_rank": [0.8],
                                            "res_scale": [1.0], "lr": [1e-3]}, max_params=20_000)
    with pytest.raises(kt.errors.FailedTrialError, match="over budget: 113,516 parameters > 20,000"):
        hypermodel.build(kt.HyperParameters())


def test_every_family_the_command_offers_has_a_space_and_flops_budgets_reject():
    assert tune.build_parser()._option_string_actions["--arch"].choices == list(DEFAULT_SPACES)
    hypermodel = SRHyperModel("srvgg", 4, {"convs": [16], "features": [64], "lr": [2e-4]}, max_flops=1e6)
    # realesr-animevideov3's size: 2·9·(3·64 + 16·64·64 + 64·48) multiply-adds per LR pixel
    with pytest.raises(kt.errors.FailedTrialError, match="over budget: 1,238,400 FLOPs/pixel > 1,000,000"):
        hypermodel.build(kt.HyperParameters())


def test_sweep_writes_the_table_rejects_over_budget_and_resumes(tmp_path, capsys):
    space = write_space(tmp_path / "space.json", [8, 12, 96])
    args = ["--arch", "wdsr_b", "--tuner", "random", "--max-params", "20000", "--space", str(space),
            "--output", str(tmp_path / "study"), *DATA]
    tune.main([*args, "--max-trials", "2"])
    first = read_rows(tmp_path / "study" / "results.csv")
    trials = {p.name for p in (tmp_path / "study" / "search").glob("trial_*")}
    assert len(trials) == 2
    tune.main([*args, "--max-trials", "3"])  # the same command, one more trial: continues, reruns nothing
    rows = read_rows(tmp_path / "study" / "results.csv")
    assert len({p.name for p in (tmp_path / "study" / "search").glob("trial_*")}) == 3
    assert sorted(int(r["features"]) for r in rows) == [8, 12]  # 96 features: 113,516 parameters, rejected
    assert {r["trial"] for r in first} <= {r["trial"] for r in rows}
    psnr = [float(r["val_psnr"]) for r in rows]
    assert psnr == sorted(psnr, reverse=True) and all(int(r["params"]) <= 20000 for r in rows)
    assert all(float(r["flops_per_pixel"]) > 0 and float(r["steps_per_second"]) > 0 for r in rows)
    table = (tmp_path / "study" / "results.md").read_text()
    assert "over budget" in table and "Bicubic" in table
    assert (tmp_path / "study" / "psnr_vs_params.png").stat().st_size > 1000
    assert (tmp_path / "study" / "best.keras").is_file()


def test_chief_and_worker_on_loopback(tmp_path):
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    space = write_space(tmp_path / "space.json", [8, 12])
    command = [sys.executable, "-m", "tfsr.tune", "--arch", "wdsr_b", "--tuner", "random", "--max-trials", "2",
               "--space", str(space), "--output", str(tmp_path / "study"), *DATA]
    processes = {}
    for role in ("chief", "tuner0"):
        env = {**os.environ, "KERASTUNER_TUNER_ID": role, "KERASTUNER_ORACLE_IP": "127.0.0.1",
               "KERASTUNER_ORACLE_PORT": str(port)}
        processes[role] = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True)
    outputs = {role: p.communicate(timeout=600) for role, p in processes.items()}
    for role, p in processes.items():
        assert p.returncode == 0, (role, outputs[role][1][-3000:])
    assert "no trials left" in outputs["tuner0"][0]
    rows = read_rows(tmp_path / "study" / "results.csv")
    assert sorted(int(r["features"]) for r in rows) == [8, 12]
