from pathlib import Path

from setuptools import find_packages, setup

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
    package_data={"tfsr.data": ["sample/*/*", "sample/*.md"]},
    install_requires=runtime,
    extras_require={"test": ["pytest>=8"]},
    entry_points={"console_scripts": [
        "tfsr-train=tfsr.train:main",
        "tfsr-evaluate=tfsr.evaluate:main",
        "tfsr-upscale=tfsr.upscale:main",
        "tfsr-tune=tfsr.tune:main",
    ]},
)
