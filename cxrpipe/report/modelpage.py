"""The model report of `cxrpipe evaluate --report`: one self-contained HTML page. Pure:
``ModelReport`` (plain numbers and texts) in, a string out.

It shares the dataset report's look and blocks (``page.CSS``, ``page.CSP``, ``sections``,
``svg``). Every figure shown comes from the evaluation report as written to metrics.json or
ensemble.json, printed to 3 decimals; each table cell carries its key (``data-key``) so a test
can compare the page with the file. Unlike the dataset report the page is dated: an evaluation
is an event, and its date and code version are part of the model card.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from . import page, svg
from .sections import _table, section

COLORS = ("#3e6f9e", "#d9622b", "#5c9e6a", "#8e5ea2", "#e0a43a", "#2a9d8f", "#8a94a3")

# Counts what went wrong while the page loaded (script errors, console.error, anything the CSP
# blocked) on <body data-errors>, read by the browser test. In <head>, so it sees the parse.
ERROR_CHECK = """
var cxrErrors = 0;
function cxrMark() { if (document.body) { document.body.setAttribute('data-errors', String(cxrErrors)); } }
window.addEventListener('error', function () { cxrErrors++; cxrMark(); }, true);
document.addEventListener('securitypolicyviolation', function () { cxrErrors++; cxrMark(); });
var cxrConsoleError = console.error;
console.error = function () { cxrErrors++; cxrMark(); cxrConsoleError.apply(console, arguments); };
window.addEventListener('load', function () {
  cxrMark();
  document.body.setAttribute('data-page-height', String(document.documentElement.scrollHeight));
});
"""


@dataclass(frozen=True)
class ModelInfo:
    """One model directory as the card section shows it."""

    path: str
    card: dict                   # train_config.json as written (``ModelCard.to_dict``)
    training: dict               # stage -> the settings its checkpoints were made with
    logs: dict                   # stage -> column -> one value per epoch (OUT/logs/{stage}.csv)
    manifest_uri: str | None     # the training dataset's manifest
    manifest_sha256: str | None  # of its bytes; None where it could not be read


@dataclass(frozen=True)
class ModelReport:
    """What the page shows: the evaluation report, the model(s), when and by which code."""

    evaluation: dict             # metrics.json (one model) or ensemble.json
    models: tuple[ModelInfo, ...]
    code_version: str
    date: str                    # ISO 8601, UTC


def is_ensemble(evaluation: dict) -> bool:
    """Whether ``evaluation`` is an ensemble's report (ensemble.json) rather than one model's."""
    return evaluation.get("kind") == "ensemble"


def scored(evaluation: dict) -> dict:
    """The full single-classifier report: the model's own, or the ensemble's soft vote."""
    return evaluation["soft"] if is_ensemble(evaluation) else evaluation


def render_model_page(r: ModelReport) -> str:
    """The whole page.

    Args:
        r: what to show (see ``ModelReport``).

    Returns:
        An HTML5 document with everything inline.
    """
    parts = [("auc", "AUC", _auc_section), ("roc", "ROC curves", _roc_section),
             ("confusion", "Confusion", _confusion_section),
             ("calibration", "Calibration", _calibration_section),
             ("training", "Training", _training_section), ("card", "Model card", _card_section)]
    nav = "".join(f'<a href="#{a}">{escape(t)}</a>' for a, t, _ in parts)
    body = "".join(build(r) for _, _, build in parts)
    title = f"cxrpipe model report · {_subject(r)}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{page.CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{page.CSS}</style><script>{ERROR_CHECK}</script></head>\n"
            f"<body>{_header(r)}<nav>{nav}</nav><main>{body}</main>{_footer(r)}</body></html>\n")


def _subject(r: ModelReport) -> str:
    if is_ensemble(r.evaluation):
        return f"ensemble of {len(r.models)} models"
    return r.models[0].path


def _header(r: ModelReport) -> str:
    main = scored(r.evaluation)
    stats = [(_num(main["mean_auc"]), "mean AUC" + (" (soft vote)" if is_ensemble(r.evaluation) else "")),
             (f"{len(main['classes'])}", "classes"), (f"{main['cases']:,}", f"{r.evaluation['split']} cases"),
             (f"{len(r.models)}", "models")]
    cards = "".join(f'<div class="stat"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for v, k in stats)
    return (f'<header class="top"><h1>cxrpipe model report — {escape(_subject(r))}</h1>'
            f'<div class="where">scored on {escape(r.evaluation["dataset"])} · {escape(r.evaluation["split"])} split'
            f' · evaluated {escape(r.date)} · cxrpipe {escape(r.code_version)}</div>'
            f'<div class="stats">{cards}</div></header>')


def _footer(r: ModelReport) -> str:
    source = "ensemble.json" if is_ensemble(r.evaluation) else "metrics.json"
    return (f"<footer>Made by <code>cxrpipe evaluate --report</code> from {source}, the model cards, "
            "the training logs and the training dataset's manifest. The page is self-contained: it loads "
            "nothing from the network.</footer>")


def members(r: ModelReport) -> list[tuple[str, str]]:
    """(label, model directory) of each ensemble member, M1, M2, ...; empty for one model."""
    if not is_ensemble(r.evaluation):
        return []
    return [(f"M{i + 1}", m) for i, m in enumerate(r.evaluation["members"])]


def _cell(key: str, value, fmt=None) -> str:
    """A number in a table, tagged with its key so the browser test can compare it."""
    text = "n/a" if value is None else (fmt(value) if fmt else _num(value))
    return f'<span data-key="{escape(key)}">{escape(text)}</span>'


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _count(value) -> str:
    return "n/a" if value is None else f"{value:,}"


# ------------------------------------------------------------------ AUC


def _auc_section(r: ModelReport) -> str:
    main, ensemble = scored(r.evaluation), is_ensemble(r.evaluation)
    level = f"{main['bootstrap']['confidence']:.0%}"
    header = ["class", "pos", "neg", "AUC", f"{level} CI"]
    header += [f"{label} AUC" for label, _ in members(r)]
    header += ["vote AUC", "sens@majority", "spec@majority"] if ensemble else []
    header += [f"threshold (recall {main['target_recall']:g})", "sensitivity", "specificity", "precision", "ECE"]
    rows = [_auc_row(r, name) for name in main["classes"]]
    means = [["mean", "", "", _cell("mean_auc", main["mean_auc"]), ""]
             + [_cell(f"mean_auc|{m}", r.evaluation["member_metrics"][m]["mean_auc"]) for _, m in members(r)]
             + [""] * (len(header) - 5 - len(members(r)))]
    return section("auc", "AUC, intervals and tuned thresholds", _auc_intro(r), _table(header, rows + means)
                   + _member_list(r))


def _auc_row(r: ModelReport, name: str) -> list[str]:
    c = scored(r.evaluation)["per_class"][name]
    ci, tuned = c["auc_ci"] or {}, c["at_target_recall"] or {}
    span = f'{_cell(f"ci_low|{name}", ci.get("low"))}–{_cell(f"ci_high|{name}", ci.get("high"))}' if ci else "n/a"
    row = [escape(name), _cell(f"pos|{name}", c["positives"], _count), _cell(f"neg|{name}", c["negatives"], _count),
           _cell(f"auc|{name}", c["auc"]), span]
    row += [_cell(f"auc|{name}|{m}", r.evaluation["member_metrics"][m]["per_class"][name]["auc"])
            for _, m in members(r)]
    if is_ensemble(r.evaluation):
        vote = r.evaluation["hard"]["per_class"].get(name) or {}
        at = vote.get("at_majority") or {}
        row += [_cell(f"vote_auc|{name}", vote.get("vote_auc")), _cell(f"vote_sens|{name}", at.get("recall")),
                _cell(f"vote_spec|{name}", at.get("specificity"))]
    row += [_cell(f"threshold|{name}", tuned.get("threshold"), lambda v: f"{v:.4f}"),
            _cell(f"sens|{name}", tuned.get("recall")), _cell(f"spec|{name}", tuned.get("specificity")),
            _cell(f"prec|{name}", tuned.get("precision")), _cell(f"ece|{name}", c["ece"])]
    return row


def _auc_intro(r: ModelReport) -> str:
    main, boot = scored(r.evaluation), scored(r.evaluation)["bootstrap"]
    ci = (f"{boot['confidence']:.0%} intervals: percentile bootstrap, {boot['resamples']:,} resamples of the "
          f"test cases (seed {boot['seed']})" if boot["resamples"] else "no intervals (--bootstrap 0)")
    split = r.evaluation.get("threshold_split")
    tuned = (f"The threshold is the highest reaching recall {main['target_recall']:g} on the {escape(split)} split, "
             "applied to the test split." if split else "No threshold was tuned (no validation split).")
    text = f"ROC AUC per class on the {escape(r.evaluation['split'])} split; {ci}. {tuned}"
    if is_ensemble(r.evaluation):
        text += (" AUC and its interval, threshold, rates and ECE are the soft vote's (the members' mean "
                 "probability). Each member's AUC is on the same cases. " + _hard_text(r.evaluation["hard"]))
    return text


def _hard_text(hard: dict) -> str:
    if not hard["available"]:
        return f"No hard vote: {escape(hard['reason'])}."
    return ("Hard vote: each member votes positive at its own tuned threshold; the vote AUC ranks cases by the "
            "fraction of members voting positive (a coarse score, a few ROC corners); sensitivity and "
            f"specificity are those of a strict majority (a fraction of at least {hard['majority']:.3g}).")


def _member_list(r: ModelReport) -> str:
    items = "".join(f"<li><b>{label}</b> <code>{escape(path)}</code></li>" for label, path in members(r))
    return f'<ul class="small">{items}</ul>' if items else ""


# ------------------------------------------------------------------ curves


def _lines(r: ModelReport, name: str, key: str):
    """(label, per-class curve) of the model (or soft vote), then of each member."""
    main = scored(r.evaluation)["per_class"][name][key]
    own = [("soft vote" if is_ensemble(r.evaluation) else "model", main)]
    return own + [(label, r.evaluation["member_metrics"][m]["per_class"][name][key]) for label, m in members(r)]


def _roc_section(r: ModelReport) -> str:
    charts = []
    for name in scored(r.evaluation)["classes"]:
        series = [(f"{label} AUC {_num(_auc_of(r, name, i))}", [tuple(p) for p in roc], COLORS[i % len(COLORS)])
                  for i, (label, roc) in enumerate(_lines(r, name, "roc")) if roc]
        chart = (svg.line_chart(series, f"ROC curve of {name}", "false positive rate (1 - specificity)",
                                "true positive rate", (0.0, 1.0), (0.0, 1.0), diagonal=True)
                 if series else '<p class="muted small">no curve: the class lacks positives or negatives</p>')
        charts.append(f'<div class="chart" data-roc-class="{escape(name)}" data-lines="{len(series)}">'
                      f"<h3>{escape(name)}</h3>{chart}</div>")
    intro = ("Per class on the test split: the true positive rate against the false positive rate as the "
             "threshold falls, one corner per distinct score (at most 201 kept); the dashed line is chance.")
    if is_ensemble(r.evaluation):
        intro += " The soft vote's curve with each member's."
    return section("roc", "ROC curves", intro, f'<div class="chart-row">{"".join(charts)}</div>')


def _auc_of(r: ModelReport, name: str, line: int):
    if line == 0:
        return scored(r.evaluation)["per_class"][name]["auc"]
    return r.evaluation["member_metrics"][members(r)[line - 1][1]]["per_class"][name]["auc"]


def _confusion_section(r: ModelReport) -> str:
    main, keys = scored(r.evaluation), ("tp", "fp", "fn", "tn")
    ensemble = is_ensemble(r.evaluation) and r.evaluation["hard"]["available"]
    header = ["class"] + [f"{k.upper()}@0.5" for k in keys] + [f"{k.upper()}@threshold" for k in keys]
    header += [f"{k.upper()}@majority" for k in keys] if ensemble else []
    rows = []
    for name in main["classes"]:
        c = main["per_class"][name]
        row = [escape(name)] + [_cell(f"{k}@0.5|{name}", c["at_0.5"][k], _count) for k in keys]
        row += [_cell(f"{k}@thr|{name}", (c["at_target_recall"] or {}).get(k), _count) for k in keys]
        if ensemble:
            at = r.evaluation["hard"]["per_class"][name]["at_majority"] or {}
            row += [_cell(f"{k}@maj|{name}", at.get(k), _count) for k in keys]
        rows.append(row)
    intro = ("Test cases per class: true and false positives, false and true negatives, at 0.5 and at the "
             "tuned threshold" + (" (of the soft vote), and of the hard vote's majority." if ensemble else "."))
    return section("confusion", "Confusion counts", intro, _table(header, rows))


def _calibration_section(r: ModelReport) -> str:
    main, charts = scored(r.evaluation), []
    for i, name in enumerate(main["classes"]):
        c = main["per_class"][name]
        points = [(b["mean_predicted"], b["observed"]) for b in c["reliability"] if b["count"]]
        chart = svg.line_chart([(f"ECE {_num(c['ece'])}", points, COLORS[0])], f"Reliability of {name}",
                               "mean predicted probability", "observed frequency", (0.0, 1.0), (0.0, 1.0),
                               diagonal=True)
        charts.append(f'<div class="chart" data-reliability-class="{escape(name)}"><h3>{escape(name)}</h3>'
                      f"{chart}</div>")
    intro = (f"Per class, the test cases in {main['calibration_bins']} equal-width probability bins: the mean "
             "predicted probability against the observed frequency of the finding (empty bins left out); the "
             "dashed line is perfect calibration. ECE: the bins' count-weighted mean gap.")
    return section("calibration", "Reliability curves", intro, f'<div class="chart-row">{"".join(charts)}</div>')


def _training_section(r: ModelReport) -> str:
    cards = []
    for label, info in _labelled(r):
        charts = [_history_chart(stage, columns) for stage, columns in sorted(info.logs.items())]
        body = "".join(charts) or ('<p class="muted small">no training log (OUT/logs/STAGE.csv): trained by a '
                                    "cxrpipe that did not write one; see the TensorBoard logs in OUT/logs</p>")
        cards.append(f'<div class="card"><div class="card-head"><h3>{escape(label)}</h3>'
                     f'<code class="small">{escape(info.path)}</code></div><div class="chart-row">{body}</div></div>')
    intro = ("Loss and AUC after each epoch, on the training batches and on the validation split, as the "
             "training run logged them (OUT/logs/STAGE.csv).")
    return section("training", "Training and validation curves", intro, "".join(cards))


def _labelled(r: ModelReport) -> list[tuple[str, ModelInfo]]:
    labels = [label for label, _ in members(r)] or ["model"]
    return list(zip(labels, r.models))


def _history_chart(stage: str, columns: dict) -> str:
    epochs = columns.get("epoch", [])
    charts = []
    for metric in ("loss", "auc"):
        series = [(key, list(zip(epochs, columns[key])), COLORS[i])
                  for i, key in enumerate((metric, f"val_{metric}")) if key in columns]
        if series:
            charts.append(f'<div class="chart" data-history="{escape(stage)}:{metric}">'
                          f"<h3>{escape(stage)} · {metric}</h3>"
                          + svg.line_chart(series, f"{stage} {metric}", "epoch (Keras counts from 0)", metric)
                          + "</div>")
    return "".join(charts)


def _card_section(r: ModelReport) -> str:
    cards = []
    for label, info in _labelled(r):
        c = info.card
        values = [("model directory", info.path), ("training dataset", c.get("dataset")),
                  ("dataset version", c.get("dataset_version")), ("manifest", info.manifest_uri),
                  ("manifest SHA-256", info.manifest_sha256 or "unreadable"),
                  ("classes", ", ".join(c.get("classes", []))), ("backbone", c.get("backbone")),
                  ("weights", _weights(c.get("weights"))),
                  ("image size", c.get("image_size")), ("autoencoders", len(c.get("autoencoders", []))),
                  ("mixed precision", c.get("mixed_precision")), ("input transform", c.get("input_transform")),
                  ("trained by cxrpipe", c.get("code_version")), ("thresholds", _thresholds_text(c))]
        values += [(f"{stage}: {k}", v) for stage, settings in sorted(info.training.items())
                   for k, v in sorted(settings.items())]
        kvs = "".join(f'<div class="kv"><span>{escape(k)}</span><code>{escape(str(v))}</code></div>' for k, v in values)
        cards.append(f'<div class="card" data-model="{escape(info.path)}"><div class="card-head"><h3>{escape(label)}'
                     f'</h3></div><div class="kvs">{kvs}</div></div>')
    intro = (f"What was trained, on what, and how: each card (train_config.json), the settings its checkpoints "
             f"were made with, the training dataset's manifest and its SHA-256. Evaluated {escape(r.date)} "
             f"by cxrpipe {escape(r.code_version)}.")
    return section("card", "Model card", intro, "".join(cards))


def _weights(weights) -> str:
    # the CLI records --weights none as written; older cards hold None
    return "none (random initialization)" if weights in (None, "none") else str(weights)


def _thresholds_text(card: dict) -> str:
    t = card.get("thresholds")
    if not t:
        return "none (not evaluated)"
    values = ", ".join(f"{k} {v:.4f}" if v is not None else f"{k} n/a" for k, v in t["values"].items())
    return f"recall {t['target_recall']:g} on {t['split']}: {values}"
