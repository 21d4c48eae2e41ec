"""The phone's runtime: the aarch64 build of LiteRT, under QEMU user mode, runs the shipped files as x86 does.

The aarch64 Python, LiteRT and NumPy come from tools/arm64_sysroot.sh
(.ci/run builds it in ~/.cache/tfsr/arm64, or $TFSR_ARM64_SYSROOT). Name the
CPU: with ``-cpu max`` (SME on) LiteRT's int8 output is garbage, a known
emulation problem; Cortex-A72 (no dot product) and Cortex-A76 (dot product)
are phones' cores.
"""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import random_image

pytestmark = pytest.mark.slow  # runs LiteRT under QEMU's aarch64

ROOT = Path(__file__).resolve().parents[1]
SYSROOT = Path(os.environ.get("TFSR_ARM64_SYSROOT") or Path.home() / ".cache" / "tfsr" / "arm64")
INT8 = sorted(ROOT.glob("saved_models/*_int8.tflite"))
FLOAT16 = ROOT / "saved_models" / "wdsr_b_x4_float16.tflite"

RUNNER = textwrap.dedent("""
    import sys
    import numpy as np
    from tfsr.inference.runtime import LiteRTPredictor
    x = np.load(sys.argv[1])
    np.savez(sys.argv[2], *[LiteRTPredictor(open(p, "rb").read(), 1)(x) for p in sys.argv[3:]])
""")


def run(prefix, python, env, tmp_path, name, files):
    out = tmp_path / f"{name}.npz"
    result = subprocess.run([*prefix, python, "-c", RUNNER, str(tmp_path / "x.npy"), str(out), *map(str, files)],
                            env=env, capture_output=True, text=True, check=False, timeout=900)
    assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"
    outputs = np.load(out)
    return [outputs[f"arr_{i}"] for i in range(len(files))]


@pytest.mark.skipif(shutil.which("qemu-aarch64-static") is None,
                    reason="needs qemu-aarch64-static (Debian's qemu-user-static; .ci/run installs it)")
@pytest.mark.skipif(not (SYSROOT / "root" / "usr" / "bin" / "python3.11").is_file(),
                    reason=f"needs the aarch64 sysroot in {SYSROOT}: bash tools/arm64_sysroot.sh (.ci/run does)")
def test_shipped_files_compute_on_arm64_what_they_compute_on_x86(tmp_path):
    np.save(tmp_path / "x.npy", random_image(np.random.default_rng(0), 48, 48)[None].astype(np.float32))
    files = INT8 + [FLOAT16]
    env = {**os.environ, "PYTHONPATH": f"{SYSROOT / 'site'}{os.pathsep}{ROOT}"}
    x86 = run([], sys.executable, {**os.environ, "PYTHONPATH": str(ROOT)}, tmp_path, "x86", files)
    arm = {"cortex-a72": run(["qemu-aarch64-static", "-cpu", "cortex-a72", "-L", str(SYSROOT / "root")],
                             str(SYSROOT / "root" / "usr" / "bin" / "python3.11"), env, tmp_path, "a72", files)}
    arm["cortex-a76"] = run(["qemu-aarch64-static", "-cpu", "cortex-a76", "-L", str(SYSROOT / "root")],
                            str(SYSROOT / "root" / "usr" / "bin" / "python3.11"), env, tmp_path, "a76", INT8[:1])
    for cpu, outputs in arm.items():
        for path, on_arm, on_x86 in zip(files, outputs, x86):
            if path in INT8:  # integer arithmetic: the same bytes
                np.testing.assert_array_equal(on_arm, on_x86, err_msg=f"{path.name} on {cpu}")
            else:  # float16 weights, float arithmetic in another order: within a grey level once rounded
                assert np.abs(np.round(on_arm) - np.round(on_x86)).max() <= 1, f"{path.name} on {cpu}"
