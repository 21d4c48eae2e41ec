"""Data-parallel training: mirrored on two logical CPUs, and two workers on loopback."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import tfsr  # noqa: F401  (registers the layers for load_model)

pytestmark = pytest.mark.slow  # trains in several processes at once

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


def launch_workers(run, *args):
    """Two `tfsr.train --strategy multi_worker` processes on loopback ports."""
    cluster = {"worker": [f"localhost:{p}" for p in free_ports(2)]}
    processes = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "tfsr.train", *TINY, *args, "--strategy", "multi_worker", "--output", str(run)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return processes, cluster["worker"]


def finished(processes):
    outputs = [p.communicate(timeout=600) for p in processes]
    for p, (_, stderr) in zip(processes, outputs):
        assert p.returncode == 0, stderr[-3000:]
    return outputs


def files(folder):
    return sorted(str(f.relative_to(folder)) for f in folder.rglob("*") if f.is_file() and "logs" not in f.parts)


def test_two_workers_train_as_one_process_with_their_global_batch(tmp_path):
    run, alone = tmp_path / "run", tmp_path / "alone"
    steps = ["--batch-size", "8", "--steps", "6", "--eval-every", "6", "--checkpoint-every", "3"]
    outputs = finished(launch_workers(run, *steps)[0])
    one = subprocess.run([sys.executable, "-m", "tfsr.train", *TINY, *steps, "--output", str(alone)],
                         check=False, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    assert "strategy multi_worker, 2 replica(s)" in outputs[0][0]
    chief = keras.saving.load_model(run / "last.keras").get_weights()
    worker = keras.saving.load_model(run / "worker-1" / "last.keras").get_weights()
    single = keras.saving.load_model(alone / "last.keras").get_weights()
    for a, b in zip(chief, worker):
        np.testing.assert_array_equal(a, b)
    # Each worker makes its half of every global batch of 8 patches, so the averaged gradient is the one
    # process's: the same weights but for float rounding. Any other sharding (each worker its own stream,
    # or both the same half) moves the weights by about lr per step: 1e-3 after the first.
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(single, tfsr_initial_weights()))
    assert moved > 1e-3
    for a, b in zip(chief, single):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 6
    # Only the chief writes the run folder; the other worker writes its final model in its own subfolder.
    assert files(run) == files(alone) + ["worker-1/last.keras"]


def test_a_killed_worker_stops_its_peer_within_a_minute_and_the_relaunch_resumes(tmp_path):
    run = tmp_path / "run"
    steps = ["--steps", "100", "--eval-every", "100", "--checkpoint-every", "10"]
    (chief, worker), addresses = launch_workers(run, *steps)
    deadline = time.monotonic() + 300
    while not (run / "checkpoint.json").exists() and time.monotonic() < deadline and chief.poll() is None:
        time.sleep(0.2)
    assert chief.poll() is None, chief.communicate()[1][-3000:]
    worker.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    _, stderr = chief.communicate(timeout=120)
    waited = time.monotonic() - killed
    worker.communicate()
    assert chief.returncode == 1 and waited <= 60, (chief.returncode, waited)
    saved = json.loads((run / "checkpoint.json").read_text())["step"]
    assert 10 <= saved < 100
    assert [line for line in stderr.splitlines() if line.startswith("error:")] == [
        f"error: lost worker 1 ({addresses[1]}): it stopped answering, so this worker stopped too; "
        f"relaunch every worker with --resume to go on from step {saved}"]

    outputs = finished(launch_workers(run, *steps, "--resume")[0])
    assert f"resumed at step {saved}" in outputs[0][0]
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 100
    chief = keras.saving.load_model(run / "last.keras").get_weights()
    worker = keras.saving.load_model(run / "worker-1" / "last.keras").get_weights()
    for a, b in zip(chief, worker):
        np.testing.assert_array_equal(a, b)


def tfsr_initial_weights():
    from tfsr.models import build
    keras.utils.set_random_seed(0)
    return build("wdsr_b", 4, blocks=2, features=16).get_weights()
