"""`cxrpipe evaluate --report`: the model page opened in a real headless Chromium (Debian's
chromium; a missing browser fails these tests). What the page must show is taken from the
files the same run wrote (metrics.json, ensemble.json), the model cards, the training logs and
the training dataset's manifest, read here independently."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

import browser
from cxrpipe.cli import main
from cxrpipe.manifest import MANIFEST_NAME
from cxrpipe.train import ensemble, modeldir

QUIET = ["--progress", "none"]
BROWSER_SECONDS = 90


class Page(HTMLParser):
    """The DOM as Chromium left it: each data-key cell's text, each chart's attributes, and
    whether each chart holds a drawn line."""

    def __init__(self, dom: str):
        super().__init__()
        self.cells: dict[str, str] = {}
        self.charts: list[dict] = []
        self._key, self._open = None, []
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "span" and "data-key" in a:
            self._key = a["data-key"]
            self.cells[self._key] = ""
        if tag == "div" and any(k.startswith("data-") for k in a):
            self.charts.append({**a, "lines": 0})
        if tag in ("polyline", "circle") and self.charts:
            self.charts[-1]["lines"] += 1

    def handle_data(self, data):
        if self._key is not None:
            self.cells[self._key] += data

    def handle_endtag(self, tag):
        if tag == "span":
            self._key = None


def figure(evaluation: dict, key: str):
    """The value a cell's key names in the evaluation report (the page's documented keys)."""
    scored = evaluation.get("soft", evaluation)
    what, _, rest = key.partition("|")
    name, _, member = rest.partition("|")
    if what == "mean_auc":
        return evaluation["member_metrics"][name]["mean_auc"] if name else scored["mean_auc"]
    if member:
        return evaluation["member_metrics"][member]["per_class"][name][what]
    c = scored["per_class"][name]
    tuned, vote = c["at_target_recall"] or {}, evaluation.get("hard", {}).get("per_class", {}).get(name, {})
    simple = {"auc": c["auc"], "pos": c["positives"], "neg": c["negatives"], "ece": c["ece"],
              "ci_low": (c["auc_ci"] or {}).get("low"), "ci_high": (c["auc_ci"] or {}).get("high"),
              "threshold": tuned.get("threshold"), "sens": tuned.get("recall"), "spec": tuned.get("specificity"),
              "prec": tuned.get("precision"), "vote_auc": vote.get("vote_auc"),
              "vote_sens": (vote.get("at_majority") or {}).get("recall"),
              "vote_spec": (vote.get("at_majority") or {}).get("specificity")}
    if what in simple:
        return simple[what]
    count, at = what.split("@")
    return {"0.5": c["at_0.5"], "thr": tuned, "maj": vote.get("at_majority") or {}}[at].get(count)


def assert_cells_match(page: Page, evaluation: dict) -> None:
    assert len(page.cells) > 20
    for key, text in page.cells.items():
        value = figure(evaluation, key)
        if value is None:
            assert text == "n/a", key
        elif isinstance(value, int):
            assert int(text.replace(",", "")) == value, key
        else:  # shown to 3 decimals (thresholds 4)
            assert abs(float(text) - value) <= 0.5e-3 + 1e-12, (key, text, value)


def opened(path: Path) -> tuple[str, Page]:
    dom = browser.dump_dom(path, timeout=BROWSER_SECONDS)
    assert re.search(r'data-page-height="\d+"', dom), "the page's load handler did not run"
    return dom, Page(dom)


@pytest.fixture(scope="module")
def single(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("reported") / "model"
    shutil.copytree(trained.out, out)  # evaluate rewrites metrics.json and the card
    report = tmp_path_factory.mktemp("report")
    assert main(["evaluate", "--out", str(out), "--bootstrap", "30", "--report", str(report), *QUIET]) == 0
    return {"out": out, "page": report / "index.html",
            "metrics": json.loads((out / modeldir.METRICS_FILE).read_text())}


def test_the_model_page_renders_without_errors_with_every_curve(single, shards):
    dom, page = opened(single["page"])
    assert 'data-errors="0"' in dom
    assert {"auc", "roc", "confusion", "calibration", "training", "card"} <= set(re.findall(r'<section id="(\w+)"', dom))
    roc = {c["data-roc-class"]: c for c in page.charts if "data-roc-class" in c}
    reliability = {c["data-reliability-class"]: c for c in page.charts if "data-reliability-class" in c}
    for name in shards.classes:
        assert roc[name]["lines"] == 1 and roc[name]["data-lines"] == "1"
        assert reliability[name]["lines"] == 1
    history = {c["data-history"]: c["lines"] for c in page.charts if "data-history" in c}
    assert history == {"classifier:loss": 2, "classifier:auc": 2}  # training and validation lines


def test_the_numbers_on_the_page_are_those_of_metrics_json(single):
    _, page = opened(single["page"])
    assert_cells_match(page, single["metrics"])
    for name in single["metrics"]["classes"]:
        assert {f"auc|{name}", f"threshold|{name}", f"tp@thr|{name}", f"tn@0.5|{name}"} <= set(page.cells)


def test_the_model_card_names_the_data_code_and_settings(single, shards):
    html = single["page"].read_text()
    card = modeldir.read(single["out"])
    manifest = Path(shards.root) / "_manifests" / f"v{card.dataset_version:06d}.json"
    if not manifest.is_file():
        manifest = Path(shards.root) / MANIFEST_NAME
    assert hashlib.sha256(manifest.read_bytes()).hexdigest() in html
    for shown in (shards.root, ", ".join(card.classes), "small", "none (random initialization)",
                  "classifier: learning_rate", "classifier: seed", "evaluated 20"):
        assert shown in html, shown
    assert re.search(r"cxrpipe 0\.1\.0 \([0-9a-f]{7,}", html)  # git describe of this checkout


def test_the_error_counter_sees_a_broken_script(single, tmp_path):
    """The check above could fail: the same page with one failing script counts one error."""
    broken = tmp_path / "broken.html"
    broken.write_text(single["page"].read_text().replace("</main>", "<script>noSuchFunction();</script></main>"))
    dom, _ = opened(broken)
    assert 'data-errors="1"' in dom


def test_the_ensemble_page_shows_the_ensemble_and_each_member(members, shards, tmp_path):
    report = tmp_path / "report"
    assert main(["evaluate", "--models", ",".join(members), "--out", str(tmp_path / "e"), "--bootstrap", "20",
                 "--report", str(report), *QUIET]) == 0
    evaluation = json.loads((tmp_path / "e" / ensemble.ENSEMBLE_FILE).read_text())
    dom, page = opened(report / "index.html")
    assert 'data-errors="0"' in dom
    assert_cells_match(page, evaluation)
    for name in shards.classes:
        assert {f"auc|{name}|{m}" for m in members} | {f"vote_auc|{name}", f"tp@maj|{name}"} <= set(page.cells)
        chart = next(c for c in page.charts if c.get("data-roc-class") == name)
        assert chart["lines"] == 1 + len(members)  # the soft vote and each member
    assert {c["data-model"] for c in page.charts if "data-model" in c} == set(members)
    assert [c["data-history"] for c in page.charts if "data-history" in c].count("classifier:loss") == len(members)


def test_a_report_path_that_is_a_file_is_refused_before_scoring(trained, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    assert main(["evaluate", "--out", trained.out, "--report", str(taken), *QUIET]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and f"--report {taken} is a file" in err
    assert captured.out == ""  # refused before scoring: no metrics table printed
