"""The notebook API in ``cxrpipe/__init__``: light to import, the same objects the tool uses."""

from __future__ import annotations

import subprocess
import sys

import pytest

import cxrpipe
from cxrpipe import manifest
from cxrpipe.dataset import NoDataset
from cxrpipe.synth.layouts import NIH_HEADER, _csv, nih_plan


def test_importing_cxrpipe_loads_no_heavy_library():
    probe = ("import sys, cxrpipe; heavy = ('cv2', 'pyspark', 'boto3', 'tensorflow', 'pyarrow', 'numpy');"
             "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_open_dataset_reads_a_committed_manifest_and_names_a_missing_one(tmp_path):
    built = manifest.build_manifest(kind="preprocess", dataset="nih", classes=["Mass"], parameters={}, inputs=1,
                                    counts={"train": {"Mass": {"none": 1}}}, images={"train": 1},
                                    positives={"train": [1]}, rejects={}, excluded={},
                                    files=[{"path": "index/part-00000.parquet", "bytes": 1, "sha256": "0"}])
    (tmp_path / manifest.MANIFEST_NAME).write_bytes(manifest.dumps(built))
    ds = cxrpipe.open_dataset(str(tmp_path))
    assert isinstance(ds, cxrpipe.Dataset) and isinstance(ds.manifest, cxrpipe.Manifest)
    assert ds.manifest == built and ds.uri("index/part-00000.parquet") == f"{tmp_path}/index/part-00000.parquet"
    with pytest.raises(NoDataset, match="not a finished cxrpipe dataset"):
        cxrpipe.open_dataset(str(tmp_path / "elsewhere"))


def test_read_index_is_the_tools_reader():
    text = _csv(NIH_HEADER, [r.fields() for r in nih_plan(30, 1)]).decode()
    index = cxrpipe.read_index("nih", text)
    assert index.records == cxrpipe.READERS["nih"].read(text).records and len(index.records) == 30
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        cxrpipe.nothing
