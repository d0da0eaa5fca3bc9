"""cxrpipe: raw chest radiographs in S3 to CLAHE/resized/flipped JPEGs, Parquet and TFRecords."""

import re
from pathlib import Path

from setuptools import find_packages, setup

VERSION = re.search(r'__version__ = "([^"]+)"', Path("cxrpipe/__init__.py").read_text()).group(1)

CORE = [
    "numpy>=1.26",
    "opencv-python-headless>=4.9",
    # libjpeg-turbo with its warnings as errors: OpenCV decodes a corrupt JPEG into grey.
    "simplejpeg>=1.7",
    "pydicom>=3.0",
    "pyarrow>=14",
    "google-crc32c>=1.5",
]

EXTRAS = {
    # EMR 7.x runs Spark 3.5: pin the same line so what passes here runs there.
    "spark": ["pyspark>=3.5,<3.6"],
    "aws": ["boto3>=1.34"],
    # The trainer is the only TensorFlow importer; workers never need it.
    # tensorflow-cpu does not bring TensorBoard, whose callback writes the training logs.
    "train": ["tensorflow-cpu>=2.16", "tensorboard>=2.16"],
    "demo": ["pydicom-data>=1.0"],
    # Packs the virtual environment EMR runs (spark-submit --archives env.tar.gz#environment).
    # `cxrpipe emr package` builds the wheel with this environment's setuptools: 70.1 is the first
    # with bdist_wheel of its own (a fresh venv's 65.5 needs the `wheel` package, which is phasing it out).
    # pyelftools reads the packed archive's .so files: each must load on EMR 7's glibc 2.34 and CPU.
    "emr": ["venv-pack>=0.2.0", "boto3>=1.34", "setuptools>=70.1", "pyelftools>=0.31"],
}
EXTRAS["test"] = sorted(
    set(EXTRAS["spark"] + EXTRAS["aws"] + EXTRAS["train"] + EXTRAS["demo"] + EXTRAS["emr"])
    # Pillow only makes a CMYK JPEG for the hostile-input tests; cxrpipe never imports it.
    | {"pytest>=8", "pytest-timeout>=2.3", "moto[server]>=5.0", "pillow>=10"}
)
EXTRAS["dev"] = EXTRAS["test"]

setup(
    name="cxrpipe",
    version=VERSION,
    description="Turn raw chest radiographs in an object store into training-ready data with Spark.",
    long_description=Path("README.md").read_text() if Path("README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["cxrpipe", "cxrpipe.*"]),
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["cxrpipe=cxrpipe.cli:main"]},
)
