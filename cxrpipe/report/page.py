"""The report as one self-contained HTML document. Pure: ``ReportData`` in, a string out.

The page loads nothing from anywhere: styles and the small script are inline, pictures are
``data:`` URIs, and a Content-Security-Policy forbids every other source, so it reads the same
offline, from a mail attachment or from a bucket. It holds no timestamp: the same dataset and
seed give the same bytes.
"""

from __future__ import annotations

from html import escape

from . import sections
from .model import ReportData

# Images only from data: URIs; no fetch, font, frame or remote anything.
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'")

# Records on <body> how many pictures decoded (shown as a warning when some did not; read by the
# browser test) and the page's height (for a whole-page screenshot).
LOAD_CHECK = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);
  document.body.setAttribute('data-page-height', String(document.documentElement.scrollHeight));
  if (ok < imgs.length) { document.getElementById('load-warning').hidden = false; }
});
"""

CSS = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#e4e7eb; --bg:#f5f7fa; --card:#fff; --accent:#3e6f9e; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; }
header.top { background:#14202e; color:#fff; padding:28px 40px 20px; }
header.top h1 { margin:0 0 4px; font-size:26px; font-weight:600; letter-spacing:.2px; }
header.top .where { color:#aab7c4; font-family:ui-monospace,"DejaVu Sans Mono",monospace; font-size:13px; }
.stats { display:flex; flex-wrap:wrap; gap:12px; margin-top:18px; }
.stat { background:#1e2d3f; border-radius:10px; padding:10px 16px; min-width:120px; }
.stat b { display:block; font-size:22px; font-weight:600; }
.stat span { color:#aab7c4; font-size:12px; text-transform:uppercase; letter-spacing:.6px; }
nav { position:sticky; top:0; z-index:10; background:#fff; border-bottom:1px solid var(--line);
  padding:8px 40px; display:flex; gap:18px; flex-wrap:wrap; }
nav a { color:var(--accent); text-decoration:none; font-weight:500; }
nav a:hover { text-decoration:underline; }
main { padding:8px 40px 40px; max-width:1500px; }
section { margin-top:28px; }
h2 { font-size:20px; margin:0 0 4px; }
h3 { font-size:16px; margin:0; }
.intro { color:var(--muted); margin:0 0 14px; max-width:980px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:12px; padding:14px 16px;
  margin-bottom:14px; box-shadow:0 1px 2px rgba(20,32,46,.04); }
.card-head { display:flex; align-items:baseline; gap:12px; margin-bottom:10px; }
.grid { display:grid; gap:8px; align-items:center; }
.colhead { font-size:12px; color:var(--muted); text-transform:uppercase; letter-spacing:.5px; }
.info { display:flex; flex-direction:column; align-items:flex-start; gap:4px; padding-right:8px; }
.info code { font-size:12px; word-break:break-all; }
.chips { display:flex; flex-wrap:wrap; gap:3px 0; }
.tile { width:150px; height:150px; background:#0b0f14; border-radius:6px; display:flex;
  align-items:center; justify-content:center; overflow:visible; }
.tile img { max-width:150px; max-height:150px; border-radius:4px; transition:transform .15s ease; }
.tile img:hover { transform:scale(2.2); position:relative; z-index:5; box-shadow:0 8px 30px rgba(0,0,0,.5); }
.tile.empty { background:repeating-linear-gradient(45deg,#eef1f5,#eef1f5 8px,#f7f9fb 8px,#f7f9fb 16px); }
.tile.empty span { color:var(--muted); font-size:11px; text-align:center; padding:10px; }
.chip { display:inline-block; font-size:11px; border-radius:999px; padding:1px 8px; background:#e8eef5;
  color:#2c4a68; margin-right:4px; }
.chip.split-train { background:#3e6f9e; color:#fff; } .chip.split-val { background:#e0a43a; color:#fff; }
.chip.split-test { background:#5c9e6a; color:#fff; } .chip.reason { background:#fbe9e1; color:#9c3d14; }
.muted { color:var(--muted); } .small { font-size:12px; }
.ok { color:#2f7a44; font-weight:500; }
.chart { background:var(--card); border:1px solid var(--line); border-radius:12px; padding:12px;
  display:inline-block; max-width:100%; overflow-x:auto; }
.chart-row { display:flex; flex-wrap:wrap; gap:18px; align-items:flex-start; }
.scroll { overflow-x:auto; max-width:100%; }
table { border-collapse:collapse; background:var(--card); border:1px solid var(--line); border-radius:8px; }
th, td { padding:5px 12px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
th { background:#f0f3f7; font-weight:600; font-size:13px; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
details { margin-top:10px; } summary { cursor:pointer; color:var(--accent); margin-bottom:8px; }
.warning { background:#fdecea; color:#8a1c12; padding:10px 40px; }
.side-by-side { display:flex; flex-wrap:wrap; gap:0 40px; align-items:flex-start; }
.side-by-side > section { width:min-content; max-width:100%; }
td:first-child { white-space:nowrap; }
.kvs { display:grid; grid-template-columns:repeat(auto-fill, minmax(340px, 1fr)); gap:6px 14px; margin-top:12px; }
.kv { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:6px 10px;
  display:flex; justify-content:space-between; gap:10px; }
.kv span { color:var(--muted); font-family:ui-monospace,"DejaVu Sans Mono",monospace; font-size:12px; }
.kv code { text-align:right; word-break:break-all; }
footer { color:var(--muted); padding:20px 40px 40px; font-size:12px; }
"""

SECTIONS = {
    "counts": ("Counts", sections.counts_section),
    "samples": ("Samples", sections.samples_section),
    "intensities": ("Intensities", sections.intensity_section),
    "cooccurrence": ("Co-occurrence", sections.cooccurrence_section),
    "weights": ("Class weights", sections.weights_section),
    "rejects": ("Rejects", sections.rejects_section),
    "parameters": ("Parameters", sections.parameters_section),
}
# Top to bottom; sections in one tuple sit side by side when the window is wide enough.
LAYOUT = (("counts",), ("samples",), ("intensities",), ("cooccurrence", "weights"), ("rejects",), ("parameters",))


def render_page(data: ReportData) -> str:
    """The whole report page.

    Args:
        data: what to show (see ``ReportData``).

    Returns:
        An HTML5 document with everything inline.
    """
    m = data.manifest
    title = f"cxrpipe report · {m.dataset} · {data.dataset_uri}"
    nav = "".join(f'<a href="#{a}">{escape(SECTIONS[a][0])}</a>' for row in LAYOUT for a in row)
    body = "".join(_row([SECTIONS[a][1](data) for a in row]) for row in LAYOUT)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n<body>"
        f"{_header(data)}"
        '<div id="load-warning" class="warning" hidden>Some pictures did not load.</div>'
        f"<nav>{nav}</nav><main>{body}</main>{_footer(data)}<script>{LOAD_CHECK}</script></body></html>\n"
    )


def _row(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f'<div class="side-by-side">{"".join(parts)}</div>'


def _header(data: ReportData) -> str:
    m = data.manifest
    jpegs = sum(n for per_class in m.counts.values() for per in per_class.values() for n in per.values())
    stats = [(f"{m.inputs:,}", "inputs"), (f"{sum(m.images.values()):,}", "images written"),
             (f"{jpegs:,}", "JPEGs incl. flips"), (f"{m.rejects['total']:,}", "rejected"),
             (f"{len(m.classes)}", "classes")]
    stats += [(f"{n:,}", f"{s} images") for s, n in sorted(m.images.items(),
                                                            key=lambda kv: sections.SPLIT_ORDER.index(kv[0])
                                                            if kv[0] in sections.SPLIT_ORDER else 9)]
    cards = "".join(f'<div class="stat"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for v, k in stats)
    kind = f"{m.kind} of {m.dataset}"
    return (f'<header class="top"><h1>cxrpipe report — {escape(kind)}</h1>'
            f'<div class="where">{escape(data.dataset_uri)} · cxrpipe {escape(str(m.code_version))}</div>'
            f'<div class="stats">{cards}</div></header>')


def _footer(data: ReportData) -> str:
    return (f"<footer>Made by <code>cxrpipe report</code> (seed {data.seed}, {data.per_class} per class) from the "
            "dataset's manifest, index and rejects tables and the sampled images only. The page is "
            "self-contained: it loads nothing from the network.</footer>")
