"""The house's plan: tfsr's modules by floor, what each imports, and what breaks the plan.

    python tools/architecture.py            # rooms per floor, import counts, circles and upward imports

A module may import modules on its own floor or below, never above, and the
imports within a floor form no circle. Training never reaches the int8
code (``tfsr.deploy``), and the LiteRT runtime imports no TensorFlow, so
upscaling with a .tflite file starts fast. tests/test_architecture.py
checks all of it; docs/architecture.md draws it.
"""
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Floor by module name prefix (the longest matching prefix wins), bottom first.
FLOORS = {
    "tfsr": 0, "tfsr.imports": 0, "tfsr.compat": 0, "tfsr.quiet": 0, "tfsr.progress": 0, "tfsr.color": 0, "tfsr.errors": 0,
    "tfsr.layers": 1, "tfsr.metrics": 1, "tfsr.detail": 1, "tfsr.niqe": 1, "tfsr.spectrum": 1, "tfsr.no_reference": 1, "tfsr.ncnn_param": 1,
    "tfsr.data": 1,
    "tfsr.models": 2,
    "tfsr.evaluation": 3, "tfsr.report": 3, "tfsr.importers": 3,
    "tfsr.inference": 4,
    "tfsr.training": 5, "tfsr.deploy": 5,
    "tfsr.cli": 6, "tfsr.train": 6, "tfsr.evaluate": 6, "tfsr.upscale": 6, "tfsr.tune": 6, "tfsr.export": 6,
    "tfsr.import_weights": 6, "tfsr.ship": 6, "tfsr.interpolate": 6, "tfsr.teach": 6,
}
FLOOR_NAMES = ["foundations", "layers, metrics, data", "models and presets", "scoring, reports, importers",
               "running a model", "training, deployment", "command lines"]
NEVER = [("tfsr.training", "tfsr.deploy"),  # training does not import the int8 code
         ("tfsr.inference.runtime", "tensorflow"), ("tfsr.inference.runtime", "keras"),  # the fast start
         ("tfsr.inference.files", "tensorflow"), ("tfsr.inference.ncnn", "tensorflow"),  # tfsr.load of a .tflite
         ("tfsr.data.teacher_sets", "tensorflow"), ("tfsr.data.degradation_options", "tensorflow"),  # checked early
         ("tfsr.detail", "tensorflow"), ("tfsr.no_reference", "tensorflow")]  # scores for pages, NumPy only


def modules(root=ROOT):
    """{module name: path} of every module of the tfsr package."""
    found = {}
    for path in sorted((root / "tfsr").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(path, known):
    """(module-level imports, imports inside functions) of a file: the tfsr modules and third-party top names."""
    tree = ast.parse(path.read_text())
    top, inner = set(), set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module
                     for alias in node.names]
        for name in names:
            target = name if name.split(".")[0] != "tfsr" else _module_of(name, known)
            (top if node.col_offset == 0 else inner).add(target)
    return top, inner


def _module_of(name, known):
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def floor(module):
    best = max((prefix for prefix in FLOORS if module == prefix or module.startswith(prefix + ".")), key=len)
    return FLOORS[best]


def graph(root=ROOT):
    """{module: (module-level imports, function-level imports)}."""
    known = modules(root)
    return {name: imports(path, known) for name, path in known.items()}


def problems(edges):
    """Upward imports, circles within a floor, and the forbidden reaches of `NEVER`, as sentences."""
    found = []
    for module, (top, inner) in edges.items():
        for target in sorted(t for t in top | inner if t.startswith("tfsr")):
            if floor(target) > floor(module):
                found.append(f"{module} (floor {floor(module)}) imports {target} (floor {floor(target)}): upwards")
    found += [f"circle: {' -> '.join(cycle)}" for cycle in _cycles(edges)]
    for source, target in NEVER:
        for module in edges:
            if module == source or module.startswith(source + "."):
                reach = _reach(edges, module)
                hits = sorted(r for r in reach if r == target or r.startswith(target + "."))
                if hits:
                    found.append(f"{module} reaches {hits[0]} at import time")
    return found


def _reach(edges, start):
    """What importing ``start`` imports, transitively (module-level imports only)."""
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        for target in edges.get(module, (set(), set()))[0]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _cycles(edges):
    """Circles among module-level tfsr imports (each reported once, from its smallest module)."""
    found = set()
    for start in edges:
        stack = [(start, [start])]
        while stack:
            module, path = stack.pop()
            for target in edges.get(module, (set(), set()))[0]:
                if target == start:
                    found.add(tuple(path[path.index(min(path)):] + path[:path.index(min(path))] + [min(path)]))
                elif target in edges and target not in path and len(path) < 12:
                    stack.append((target, path + [target]))
    return sorted(found)


def main():
    edges = graph()
    rooms = {}
    for module in edges:
        rooms.setdefault(floor(module), []).append(module)
    for level in sorted(rooms, reverse=True):
        print(f"floor {level}: {FLOOR_NAMES[level]}")
        for module in sorted(rooms[level]):
            top, inner = edges[module]
            ours = sorted(t for t in top | inner if t.startswith("tfsr") and t != module)
            print(f"  {module:<32} imports {len(ours):>2} tfsr modules")
    found = problems(edges)
    print(f"{len(edges)} modules on {len(rooms)} floors; circles and upward imports: {len(found)}")
    for line in found:
        print("  " + line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
