"""int8 files on other x86 instruction sets: QEMU user-mode runs the same LiteRT wheel with an emulated CPUID.

XNNPACK picks its kernels from the CPU's instruction sets at run time, so
under ``qemu-x86_64-static -cpu Haswell`` (AVX2 + FMA) and ``-cpu Nehalem``
(SSE4 only) it runs those CPUs' code. QEMU cannot emulate AVX-512: on an
AVX-512 VNNI machine the native run is that case.
"""
import os
import platform
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import random_image
from test_export import trained_tiny
from test_quantization import MAX_TIE_DIFFERENCE, MEAN_TIE_DIFFERENCE

from tfsr.data import resolve
from tfsr.deploy.quantization import quantized_graph, to_int8
from tfsr.deploy.verify import calibration_patches

pytestmark = pytest.mark.slow  # runs LiteRT under QEMU's emulated CPUs

SHIPPED = Path(__file__).resolve().parents[1] / "saved_models" / "wdsr_b_x4_int8.tflite"
CPUS = ("Haswell", "Nehalem")

# Runs every file with both kernel sets on one input and saves the outputs (NumPy and LiteRT only: no
# TensorFlow, which would take minutes to import under emulation).
RUNNER = textwrap.dedent("""
    import sys
    import numpy as np
    from tfsr.inference.runtime import LiteRTPredictor
    out = {}
    for i, path in enumerate(sys.argv[3:]):
        x = np.load(sys.argv[1])[:, :48, :48]
        for kernels in ("xnnpack", "reference"):
            out[f"{i}-{kernels}"] = LiteRTPredictor(open(path, "rb").read(), 1, kernels=kernels)(x)
    np.savez(sys.argv[2], **out)
""")


def run(prefix, tmp_path, name, files, env=None):
    out = tmp_path / f"{name}.npz"
    result = subprocess.run([*prefix, sys.executable, "-c", RUNNER, str(tmp_path / "x.npy"), str(out),
                             *map(str, files)], capture_output=True, text=True, check=False, timeout=600,
                            env=None if env is None else {**os.environ, **env})
    assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"
    return dict(np.load(out))


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the ISA matrix emulates x86 CPUs on an x86 host")
@pytest.mark.skipif(shutil.which("qemu-x86_64-static") is None,
                    reason="needs qemu-x86_64-static (Debian's qemu-user-static; .ci/run installs it)")
def test_int8_output_on_every_x86_instruction_set(tmp_path):
    model, _ = trained_tiny("edsr_baseline", 2)
    source = resolve("sample", 2)
    _, quantized = quantized_graph(model, calibration_patches(source, count=8, size=32))
    (tmp_path / "tiny.tflite").write_bytes(to_int8(quantized))
    np.save(tmp_path / "x.npy", random_image(np.random.default_rng(0), 48, 48)[None].astype(np.float32))
    files = [tmp_path / "tiny.tflite", SHIPPED]
    # XNNPACK against the reference kernels, largest and mean difference: the tiny model as in
    # tests/test_quantization.py; the shipped x4 file, whose 16 blocks hold many more ties, measured 3-7 grey
    # levels and 0.54-0.66 on 48x48 crops of Set5 and of this image (about half the pixels differ by a
    # rounding; its Set5 score is the same with both: 31.499 / 31.500 dB).
    bounds = [(MAX_TIE_DIFFERENCE, MEAN_TIE_DIFFERENCE), (8, 0.75)]
    outputs = {"native": run([], tmp_path, "native", files)}
    for cpu in CPUS:
        # NumPy's OpenBLAS picks its kernels when NumPy is imported; under QEMU on an AVX-512 host it picked
        # ones the emulated Nehalem lacks (SIGILL at `import numpy`), so it is told the emulated CPU.
        # LiteRT's XNNPACK, the code under test, still detects the CPU by itself.
        outputs[cpu] = run(["qemu-x86_64-static", "-cpu", cpu], tmp_path, cpu, files, {"OPENBLAS_CORETYPE": cpu})
    for i in range(len(files)):
        reference = outputs["native"][f"{i}-reference"]
        for cpu, out in outputs.items():
            # The reference kernels are portable integer code: the same bytes on every CPU.
            np.testing.assert_array_equal(out[f"{i}-reference"], reference, err_msg=f"{files[i].name} on {cpu}")
            # XNNPACK breaks the int8 graph's rounding ties its own way (tests/test_quantization.py).
            difference = np.abs(out[f"{i}-xnnpack"] - reference)
            largest, mean = bounds[i]
            assert difference.max() <= largest and difference.mean() < mean, (files[i].name, cpu)
