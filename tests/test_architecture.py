"""The house keeps its plan (tools/architecture.py): nothing imports upwards, no circles, no forbidden reach."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import architecture


def test_the_package_has_no_upward_imports_circles_or_forbidden_reaches():
    edges = architecture.graph()
    assert {"tfsr.inference.runtime", "tfsr.training.run", "tfsr.deploy.int8_graph", "tfsr.export"} <= set(edges)
    assert architecture.problems(edges) == []


def test_the_check_sees_what_breaks_the_plan():
    edges = {"tfsr.layers": ({"tfsr.models.edsr"}, set()), "tfsr.models.edsr": ({"tfsr.layers"}, set()),
             "tfsr.training.run": ({"tfsr.inference.files"}, set()),
             "tfsr.inference.files": ({"tfsr.deploy.quantization"}, set()),
             "tfsr.deploy.quantization": (set(), set()), "tfsr.inference.runtime": ({"keras"}, set())}
    found = architecture.problems(edges)
    assert "tfsr.layers (floor 1) imports tfsr.models.edsr (floor 2): upwards" in found
    assert "tfsr.inference.files (floor 4) imports tfsr.deploy.quantization (floor 5): upwards" in found
    assert "circle: tfsr.layers -> tfsr.models.edsr -> tfsr.layers" in found
    assert "tfsr.training.run reaches tfsr.deploy.quantization at import time" in found
    assert "tfsr.inference.runtime reaches keras at import time" in found
