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
    page = ROOT / "docs" / "models.md"
    shown = [t for t in _tables(page.read_text()) if t[0].startswith(("| set14 x", "| Kodak24 x"))]
    expected = [t for t in _tables(written) if t[0].startswith(("| set14 x", "| Kodak24 x"))]
    assert len(expected) == 2
    for table in expected:  # docs/models.md shows the held-out sets' tables exactly as written
        assert table in shown, f"docs/models.md lacks or changed: {table[0]}"


@pytest.mark.parametrize("name", ["x4", "preset_x4"])
def test_perceptual_tables_are_made_from_their_scores(name):
    from compare_perceptual import markdown as perceptual_markdown
    data = json.loads((ROOT / "docs" / "perceptual" / f"{name}.json").read_text())
    written = (ROOT / "docs" / "perceptual" / f"{name}.md").read_text()
    assert written == perceptual_markdown(data["results"], data["methods"]) + "\n"
    assert written in (ROOT / "docs" / "perceptual.md").read_text()  # the page shows them as written


SHIPPED = ROOT / "saved_models"


def _int8_row(name):
    """docs/int8.md's row for a shipped int8 file, from its report."""
    r = json.loads((SHIPPED / f"{name}_int8.tflite.json").read_text())
    ssim_drop = r["keras"]["ssim"] - r["exported"]["ssim"]
    met = "met" if r["psnr_drop"] <= 0.05 and ssim_drop <= 0.002 else "not met"
    return (f"| `{name}_int8.tflite` | {r['keras']['psnr']:.3f} / {r['keras']['ssim']:.4f} | "
            f"{r['exported']['psnr']:.3f} / {r['exported']['ssim']:.4f} | **{r['psnr_drop']:.3f}** | "
            f"**{ssim_drop:.4f}** | {r['max_pixel_difference']} | {r['psnr_to_keras']:.1f} dB | {met} |")


def test_int8_pages_table_of_the_shipped_files_is_their_reports():
    lines = (ROOT / "docs" / "int8.md").read_text().splitlines()
    for name in ("wdsr_b_x4", "wdsr_b_x3", "wdsr_b_x2", "wdsr_b_x4_real", "wdsr_b_x2_real"):
        assert _int8_row(name) in lines, f"docs/int8.md: the {name}_int8.tflite row is not its report's"


def _saved_models_row(name, kind):
    """The Set5 PSNR / SSIM, drop and max Δ cells of saved_models/README.md's row for a file, from its report."""
    if kind == "keras":
        r = json.loads((SHIPPED / f"{name}.keras.json").read_text())["set5"]
        return f"{r['psnr']:.3f} / {r['ssim']:.4f} | – | –"
    r = json.loads((SHIPPED / f"{name}_{kind}.tflite.json").read_text())
    drop = f"{r['psnr_drop']:.3f}".replace("-", "−")
    drop = f"**{drop}**" if kind == "int8" else drop
    return f"{r['exported']['psnr']:.3f} / {r['exported']['ssim']:.4f} | {drop} | {r['max_pixel_difference']}"


@pytest.mark.parametrize("name", ["wdsr_b_x2", "wdsr_b_x3", "wdsr_b_x4"])
def test_saved_models_table_is_the_shipped_files_reports(name):
    rows = [line for line in (SHIPPED / "README.md").read_text().splitlines() if line.startswith("| `")]
    for kind, file in (("keras", f"{name}.keras"), ("float16", f"{name}_float16.tflite"),
                       ("int8", f"{name}_int8.tflite")):
        row = next(r for r in rows if r.startswith(f"| `{file}` |"))
        assert _saved_models_row(name, kind) in row, f"saved_models/README.md: {file}'s row is not its report's"
        size = (SHIPPED / file).stat().st_size / 1e6
        assert f"| {size:.2f} MB |" in row, f"saved_models/README.md: {file} is {size:.2f} MB"


def test_the_usage_pages_int8_drops_are_the_reports():
    rows = (ROOT / "docs" / "usage.md").read_text().splitlines()
    for n in (4, 3, 2):
        r = json.loads((SHIPPED / f"wdsr_b_x{n}_int8.tflite.json").read_text())
        row = (f"| `wdsr_b_x{n}_int8.tflite` | {r['psnr_drop']:.3f} | "
               f"{r['keras']['ssim'] - r['exported']['ssim']:.4f} |")
        assert row in [line.strip() for line in rows], f"docs/usage.md: {row}"


def test_the_model_table_counts_the_built_models_parameters():
    from tfsr.models import build
    from tfsr.models.complexity import count_params
    archs = ("edsr_baseline", "edsr", "wdsr_a", "wdsr_b", "srvgg")
    cells = [line.split("|") for line in (ROOT / "docs" / "models.md").read_text().splitlines()]
    rows = {c[1].strip(" `"): c[4].strip() for c in cells if len(c) > 4 and c[1].strip(" `") in archs}
    for arch in archs:
        assert rows[arch] == f"{count_params(build(arch, 4)):,}", arch


def test_the_readmes_python_example_runs(tmp_path):
    import re
    import subprocess
    import sys
    code = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL).group(1)
    photo = repr(str(ROOT / "tfsr" / "data" / "sample" / "train" / "rocket.jpg"))
    code = code.replace('"photo.jpg"', photo)
    code += f"\nassert sr.shape[:2] == tuple(4 * n for n in read_image({photo}).shape[:2]) and sr.dtype.name == 'uint8'"
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=tmp_path,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith(".tflite")  # the source: a preset's file
