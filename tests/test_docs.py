"""Numbers in README and docs tables are the ones the commands wrote, not copies that drift."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from compare_protocols import markdown  # tools/ is not a package: on the path above


def _tables(text):
    """The Markdown tables of a text, each as its list of lines."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


@pytest.mark.parametrize("scale", [2, 4])
def test_real_photo_tables_are_made_from_their_scores(scale):
    folder = ROOT / "docs" / "real_photos"
    data = json.loads((folder / f"x{scale}.json").read_text())
    names = list(next(iter(next(iter(data["scores"].values())).values())))
    written = (folder / f"x{scale}.md").read_text()
    assert written == markdown(data["scores"], names, data["scale"])  # the file is what the JSON says
    readme = ROOT / "README.md"
    shown = [t for t in _tables(readme.read_text()) if t[0].startswith(("| set14 x", "| Kodak24 x"))]
    expected = [t for t in _tables(written) if t[0].startswith(("| set14 x", "| Kodak24 x"))]
    assert len(expected) == 2
    for table in expected:  # README shows the held-out sets' tables exactly as written
        assert table in shown, f"README lacks or changed: {table[0]}"


def test_perceptual_tables_are_made_from_their_scores():
    from compare_perceptual import markdown as perceptual_markdown
    data = json.loads((ROOT / "docs" / "perceptual" / "x4.json").read_text())
    written = (ROOT / "docs" / "perceptual" / "x4.md").read_text()
    assert written == perceptual_markdown(data["results"], data["methods"]) + "\n"
    assert written in (ROOT / "docs" / "perceptual.md").read_text()  # the page shows them as written
