"""The house keeps its plan (tools/architecture.py): nothing imports upwards, no circles, no forbidden reach."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import architecture


def test_the_package_has_no_upward_imports_circles_or_forbidden_reaches():
    edges = architecture.graph()
    assert {"tfsr.inference.runtime", "tfsr.training.run", "tfsr.deploy.int8_graph", "tfsr.export"} <= set(edges)
    assert architecture.problems(edges) == []


def test_training_has_a_room_per_job_and_no_module_is_over_450_lines():
    edges = architecture.graph()
    rooms = {"config", "run", "assembly", "growing", "precision", "workers", "summaries", "losses", "callbacks"}
    assert {f"tfsr.training.{room}" for room in rooms} <= set(edges)
    # the run builds from its rooms; config, growing and assembly do not reach back into the run
    for room in ("config", "assembly", "growing", "precision", "workers", "summaries"):
        assert "tfsr.training.run" not in edges[f"tfsr.training.{room}"][0] | edges[f"tfsr.training.{room}"][1]
    sizes = {name: len(path.read_text().splitlines()) for name, path in architecture.modules().items()}
    assert max(sizes.values()) <= 450, max(sizes, key=sizes.get)
    assert {architecture.floor(m) for m in ("tfsr.compat", "tfsr.detail", "tfsr.teach")} == {0, 1, 6}


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
