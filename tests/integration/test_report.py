"""`cxrpipe report` end to end: datasets made by the real jobs (S3 and local), pages opened in a
real headless Chromium (Debian's chromium; the test set-up installs it: a missing browser fails
these tests, it does not skip them).

What the page must show is worked out here from the index and the objects themselves: the
sampling rule by a full sort, the JPEGs by their bytes in the bucket.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest

from cxrpipe import storage
from cxrpipe.cli import main
from cxrpipe.report import gather, write_report
from cxrpipe.report.page import render_page
import browser
from s3objects import object_keys, parquet_rows

ROOT = Path(__file__).resolve().parents[2]
BROWSER_SECONDS = 90
SECTIONS = {"samples", "intensities", "counts", "cooccurrence", "weights", "rejects", "parameters"}
_PNG = cv2.imencode(".png", np.random.default_rng(1).integers(0, 255, (64, 64), dtype=np.uint8))[1].tobytes()
HOSTILE = {"90000001_000.png": (_PNG[: len(_PNG) // 2], "truncated"),
           "90000002_000.png": (b"", "empty"),
           "90000003_000.png": (None, "missing")}


@pytest.fixture(scope="module")
def s3_dataset(s3, s3_endpoint, spark):
    """A preprocessed synthetic NIH set plus the real DICOM CR and three rejected inputs, on S3."""
    bucket = "cxr-report-test"
    s3.create_bucket(Bucket=bucket)
    raw, out = f"s3://{bucket}/raw", f"s3://{bucket}/out"
    assert main(["synth", "--layout", "nih", "--out", raw, "--n", "36", "--image-size", "256",
                 "--with-dicom", "--s3-endpoint", s3_endpoint]) == 0
    index = s3.get_object(Bucket=bucket, Key="raw/Data_Entry_2017.csv")["Body"].read().decode()
    for offset, (name, (data, _)) in enumerate(sorted(HOSTILE.items())):
        if data is not None:
            s3.put_object(Bucket=bucket, Key=f"raw/images/{name}", Body=data)
        index += f"{name},Effusion,0,{90000001 + offset},040Y,M,PA,256,256,0.143,0.143\n"
    s3.put_object(Bucket=bucket, Key="raw/Data_Entry_2017.csv", Body=index.encode())
    assert main(["preprocess", "--dataset", "nih", "--index", f"{raw}/Data_Entry_2017.csv",
                 "--images", f"{raw}/images", "--output", out, "--s3-endpoint", s3_endpoint,
                 "--max-reject-fraction", "0.2", "--images-per-task", "12"]) == 0
    rows = parquet_rows(s3, bucket, "out/index/")
    return {"bucket": bucket, "uri": out, "raw": raw, "rows": rows,
            "config": storage.StorageConfig(endpoint_url=s3_endpoint)}


@pytest.fixture(scope="module")
def s3_report(s3_dataset, tmp_path_factory):
    """The report of the S3 dataset, with every URI it read."""
    reads, lock = [], threading.Lock()
    config = s3_dataset["config"]

    def read(uri: str) -> bytes:
        with lock:
            reads.append(uri)
        return storage.read_bytes(uri, config)

    path = write_report(s3_dataset["uri"], tmp_path_factory.mktemp("report"), config, seed=0, per_class=3, read=read)
    return {"path": path, "html": path.read_text(encoding="utf-8"), "reads": reads}


def expected_choice(rows, seed: int, per_class: int) -> dict[str, list[str]]:
    """The documented sampling rule by a full sort: train (flipped) first, then SHA-256("seed\\0id")."""
    split_of: dict[str, dict[str, str]] = {}
    for r in rows:
        split_of.setdefault(r["partition"], {})[r["image_id"]] = r["split"]
    return {cls: sorted(ids, key=lambda i: (ids[i] != "train", hashlib.sha256(f"{seed}\x00{i}".encode()).digest()))
            [:per_class] for cls, ids in split_of.items()}


def chosen_rows(rows, seed: int = 0, per_class: int = 3) -> list[dict]:
    choice = expected_choice(rows, seed, per_class)
    return [r for r in rows if r["image_id"] in choice[r["partition"]]]


class Images(HTMLParser):
    """Every <img> of a page: (data-kind, decoded data: URI payload)."""

    def __init__(self, html: str):
        super().__init__()
        self.images: list[tuple[str, bytes]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            assert a["src"].startswith("data:image/"), a["src"][:40]
            self.images.append((a["data-kind"], base64.b64decode(a["src"].split(",", 1)[1])))


def loaded(dom: str) -> tuple[int, int]:
    found = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert found, "the page's load handler did not run"
    return int(found.group(1)), int(found.group(2))


def test_s3_report_opens_in_chromium_with_every_picture_and_section(s3_dataset, s3_report, s3):
    dom = browser.dump_dom(s3_report["path"], timeout=BROWSER_SECONDS)
    chosen = chosen_rows(s3_dataset["rows"])
    pictures = len(chosen) + len({(r["partition"], r["image_id"]) for r in chosen})  # JPEGs + one source each
    assert loaded(dom) == (pictures, pictures)
    assert SECTIONS <= set(re.findall(r'<section id="([a-z]+)"', dom))
    manifest = s3.get_object(Bucket=s3_dataset["bucket"], Key="out/_MANIFEST.json")["Body"].read().decode()
    for cls in re.findall(r'"classes": \[([^\]]*)\]', manifest)[0].replace('"', "").split(","):
        assert f'data-class="{cls.strip()}"' in dom
    for name, (_, reason) in HOSTILE.items():
        assert reason in dom and name in dom
    assert "cxrpipe 0.1.0" in dom and 'id="load-warning" class="warning" hidden' in dom


def test_the_page_shows_the_written_jpegs_byte_for_byte(s3_dataset, s3_report, s3):
    shown = Images(s3_report["html"]).images
    written = {s3.get_object(Bucket=s3_dataset["bucket"], Key=f"out/{r['path']}")["Body"].read()
               for r in chosen_rows(s3_dataset["rows"])}
    assert {data for kind, data in shown if kind != "source"} == written
    flips = {kind for kind, _ in shown} - {"source", "none"}
    assert flips == {"hflip", "vflip", "hvflip"}


def test_report_reads_only_what_it_shows(s3_dataset, s3_report, s3):
    reads, uri, raw = s3_report["reads"], s3_dataset["uri"], s3_dataset["raw"]
    parts = [k for k in object_keys(s3, s3_dataset["bucket"], "out/") if k.startswith(("out/index/", "out/rejects/"))]
    chosen = chosen_rows(s3_dataset["rows"])
    want = ({f"{uri}/_MANIFEST.json"} | {f"s3://{s3_dataset['bucket']}/{k}" for k in parts}
            | {f"{uri}/{r['path']}" for r in chosen} | {f"{raw}/images/{r['source']}" for r in chosen})
    assert len(reads) == len(set(reads)), "an object was read twice"
    assert set(reads) == want
    no_finding = [r for r in s3_dataset["rows"] if r["partition"] == "No Finding"]
    assert len([u for u in reads if "/No_Finding/" in u]) == 3 * 4 < len(no_finding)  # 3 images x 4 versions


def test_same_seed_same_page_and_another_seed_other_samples(s3_dataset, s3_report, tmp_path):
    config = s3_dataset["config"]
    again = write_report(s3_dataset["uri"], tmp_path / "again", config, seed=0).read_bytes()
    assert again == s3_report["path"].read_bytes()
    rows = s3_dataset["rows"]
    assert expected_choice(rows, 7, 3) != expected_choice(rows, 0, 3)
    other = Images(write_report(s3_dataset["uri"], tmp_path / "seed7", config, seed=7).read_text()).images
    written = {storage.read_bytes(f"{s3_dataset['uri']}/{r['path']}", config) for r in chosen_rows(rows, seed=7)}
    assert {data for kind, data in other if kind != "source"} == written


def test_a_large_dicom_source_is_decoded_and_shown_downsized(s3_dataset):
    data = gather(s3_dataset["uri"], s3_dataset["config"], per_class=100)
    dicom = [s for shown in data.samples.values() for s in shown if s.sample.image_id == "RG1_UNCR.dcm"]
    assert dicom and dicom[0].source_uri is not None
    shown = cv2.imdecode(np.frombuffer(base64.b64decode(dicom[0].source_uri.split(",", 1)[1]), np.uint8),
                         cv2.IMREAD_GRAYSCALE)
    assert shown.shape == (299, round(1841 * 299 / 1955))  # 1955 rows x 1841 columns, aspect kept
    assert data.histogram_images == len({r["image_id"] for r in s3_dataset["rows"]})


def test_screenshot_script_writes_a_png_a_person_can_look_at(s3_report, tmp_path):
    png = tmp_path / "report.png"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "report_screenshot.py"), str(s3_report["path"]),
                           "--png", str(png)], capture_output=True, text=True, timeout=3 * BROWSER_SECONDS)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"screenshot: {png}" in done.stdout
    image = cv2.imread(str(png))
    assert image is not None and image.shape[1] == 1400 and image.shape[0] > 3000
    assert image.std() > 20  # pictures and charts, not a blank page


def test_local_dataset_report_through_the_cli(spark, tmp_path, capsys):
    raw, out = tmp_path / "raw", tmp_path / "out"
    assert main(["synth", "--layout", "folders", "--out", str(raw), "--n", "16", "--image-size", "300"]) == 0
    assert main(["preprocess", "--dataset", "folders", "--images", str(raw / "chest_xray"), "--output", str(out),
                 "--flips", "h"]) == 0
    capsys.readouterr()
    assert main(["report", str(out), "--out", str(tmp_path / "report"), "--per-class", "2"]) == 0
    page = Path(capsys.readouterr().out.strip().removeprefix("report: "))
    assert page == (tmp_path / "report" / "index.html").resolve()
    dom = browser.dump_dom(page, timeout=BROWSER_SECONDS)
    ok, total = loaded(dom)
    assert ok == total > 0
    assert {kind for kind, _ in Images(page.read_text()).images} == {"source", "none", "hflip"}
    assert 'data-class="NORMAL"' in dom and 'data-class="PNEUMONIA"' in dom


def test_missing_sources_and_jpegs_are_shown_as_notes_not_failures(s3_dataset):
    config = s3_dataset["config"]

    def read(uri: str) -> bytes:
        if "/raw/images/" in uri or uri.endswith("_hflip.jpg"):
            raise FileNotFoundError(uri)
        return storage.read_bytes(uri, config)

    data = gather(s3_dataset["uri"], config, read=read)
    html = render_page(data)
    assert "source no longer exists" in html and "JPEG missing from the dataset" in html
    assert data.histogram_images == 0 and "No sampled source could be read." in html
    assert {kind for kind, _ in Images(html).images} == {"none", "vflip", "hvflip"}
