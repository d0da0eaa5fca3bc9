"""The package's boundaries, read from the import graph (every import, module level or inside a
function): a crossing fails here, not in a review.

- The pure core imports no I/O shell (storage, Spark, the CLI, EMR, the trainer) and none of
  pyspark, boto3 or TensorFlow.
- pyspark and py4j only in ``cxrpipe.spark``; TensorFlow and Keras only in ``cxrpipe.train``;
  boto3 and botocore only in the S3 client and the EMR package.
- Nothing outside ``cxrpipe.cli`` imports the CLI (tests/unit/test_cli_shape.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "cxrpipe"

# Pure functions over values: indexes, labels, splits, plans, image operations, TFRecord
# encoding, shard plans, manifests, reports' content. No object store, no Spark, no files.
CORE = (
    "errors", "labels", "layout", "manifest", "params", "preprocessing.plan", "splits", "features", "tfrecord",
    "shards.plan", "shards.pieces", "summary", "tables", "imageops", "decode", "dicom", "gray8", "phases", "index", "synth",
    "versions", "report.sampling", "report.svg", "report.page", "report.sections", "report.model", "report.pixels",
    "train.sources", "train.metrics", "train.voting", "report.modelpage", "heatmaps", "boxes",
)
SHELL = ("cxrpipe.storage", "cxrpipe.history", "cxrpipe.s3client", "cxrpipe.upload", "cxrpipe.dataset", "cxrpipe.verify",
         "cxrpipe.preprocessing.task", "cxrpipe.shards.writer", "cxrpipe.spark", "cxrpipe.cli", "cxrpipe.emr", "cxrpipe.train.data",
         "cxrpipe.train.loop", "cxrpipe.train.evaluate", "cxrpipe.train.ensemble", "cxrpipe.report.build",
         "cxrpipe.report.modelbuild")
THIRD_PARTY_HOMES = {
    "pyspark": ("cxrpipe.spark",), "py4j": ("cxrpipe.spark",),
    "tensorflow": ("cxrpipe.train",), "keras": ("cxrpipe.train",), "tensorboard": ("cxrpipe.train",),
    "boto3": ("cxrpipe.s3client", "cxrpipe.emr"), "botocore": ("cxrpipe.s3client", "cxrpipe.emr"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved, names of ``from`` imports
    included as submodules where they may be (``from . import storage``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


GRAPH = {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def within(module: str, homes) -> bool:
    return any(module == home or module.startswith(home + ".") for home in homes)


def test_the_graph_covers_the_package():
    assert {"cxrpipe.manifest", "cxrpipe.spark.session", "cxrpipe.train.loop", "cxrpipe.index.nih"} <= set(GRAPH)
    assert "cxrpipe.storage" in GRAPH["cxrpipe.dataset"]  # relative imports resolve


@pytest.mark.parametrize("core", CORE)
def test_the_core_imports_no_shell_and_no_heavy_framework(core):
    modules = [m for m in GRAPH if within(m, ("cxrpipe." + core,))]
    assert modules, core
    for module in modules:
        crossing = sorted(i for i in GRAPH[module] if within(i, SHELL) or within(i, THIRD_PARTY_HOMES))
        assert not crossing, f"{module} (core) imports {crossing}"


@pytest.mark.parametrize("library", sorted(THIRD_PARTY_HOMES))
def test_each_framework_is_imported_only_in_its_home(library):
    homes = THIRD_PARTY_HOMES[library]
    outside = sorted(m for m, imported in GRAPH.items()
                     if not within(m, homes) and any(within(i, (library,)) for i in imported))
    assert not outside, f"{library} imported outside {homes}: {outside}"
