"""Shared fixtures: the ../shared test data and small helpers."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_path(*parts):
    """A path under ../shared/data, or skip the test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared test data beside the project), which is absent")
    return path


@pytest.fixture
def benchmark_root():
    return shared_path("benchmark")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def random_image(rng, height, width, channels=3):
    """A smooth random RGB image (so SR has structure to learn), uint8."""
    small = rng.uniform(0, 255, (max(height // 8, 2), max(width // 8, 2), channels))
    from PIL import Image
    planes = [np.asarray(Image.fromarray(small[..., c].astype(np.float32)).resize((width, height), Image.BICUBIC))
              for c in range(channels)]
    noise = rng.normal(0, 6, (height, width, channels))
    return np.clip(np.stack(planes, -1) + noise, 0, 255).astype(np.uint8)
