"""Data-parallel training: mirrored on two logical CPUs, and two workers on loopback."""
import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np

import tfsr  # noqa: F401  (registers the layers for load_model)

TINY = ["--arch", "wdsr_b", "--dataset", "sample", "--blocks", "2", "--features", "16", "--patch-size", "16",
        "--batch-size", "4", "--eval-crop", "48"]


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_mirrored_on_two_logical_cpus_trains_as_one_device_does(tmp_path):
    runs = {}
    for name, extra in (("one", []), ("mirrored", ["--strategy", "mirrored", "--logical-cpus", "2"])):
        out = subprocess.run([sys.executable, "-m", "tfsr.train", *TINY, "--steps", "10", "--eval-every", "5",
                              *extra, "--output", str(tmp_path / name)],
                             check=False, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        runs[name] = (out.stdout, keras.saving.load_model(tmp_path / name / "last.keras").get_weights(),
                      (tmp_path / name / "metrics.csv").read_text().splitlines())
    assert "strategy mirrored, 2 replica(s)" in runs["mirrored"][0]
    # The same patches in the same order, each batch split over the two devices, the gradients averaged:
    # the same weights within float rounding (measured 8e-7 after 3 steps).
    for a, b in zip(runs["one"][1], runs["mirrored"][1]):
        np.testing.assert_allclose(a, b, atol=1e-4)
    losses = [[float(row.split(",")[1]) for row in rows[1:]] for _, _, rows in runs.values()]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)
    assert losses[0][1] < losses[0][0]


def test_two_workers_on_loopback_end_with_the_same_weights(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    run = tmp_path / "run"
    processes = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "tfsr.train", *TINY, "--steps", "6", "--eval-every", "6",
             "--checkpoint-every", "3", "--strategy", "multi_worker", "--output", str(run)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=600) for p in processes]
    for p, (stdout, stderr) in zip(processes, outputs):
        assert p.returncode == 0, stderr[-3000:]
    assert "strategy multi_worker, 2 replica(s)" in outputs[0][0]
    chief = keras.saving.load_model(run / "last.keras")
    worker = keras.saving.load_model(run / "worker-1" / "last.keras")
    for a, b in zip(chief.get_weights(), worker.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 6
    initial = tfsr_initial_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(chief.get_weights(), initial))


def tfsr_initial_weights():
    from tfsr.models import build
    keras.utils.set_random_seed(0)
    return build("wdsr_b", 4, blocks=2, features=16).get_weights()
