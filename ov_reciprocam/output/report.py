"""report.html: one self-contained page a browser opens from disk (no server, no network) to browse a run.

The page carries its own CSS and JavaScript and links to the run's files by relative paths. Its
state lives in the address's fragment (`report.html#class=macaw&flat=1&sort=score`), so a link
opens the page filtered and sorted, and the page stays one static file however it is browsed.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain
from pathlib import Path
from urllib.parse import quote

from . import files

THUMBS = "thumbs"  # the folder of the report's small pictures, one per photo
THUMB_HEIGHT = 224  # px: a contact sheet's row, so that the caption drawn on it reads as on the sheets

_STYLE = """
body{font:14px system-ui,sans-serif;margin:0;background:#f4f4f4;color:#222}
header{background:#222;color:#eee;padding:10px 16px}header h1{font-size:18px;margin:0 0 6px}
header dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0;font-size:12px}
header dt{color:#aaa}header dd{margin:0;overflow-wrap:anywhere}
nav{padding:8px 16px;background:#ddd;display:flex;flex-wrap:wrap;gap:6px 16px;align-items:center;position:sticky;top:0}
nav input{width:12em;max-width:100%}#count{margin-left:auto}
main{display:flex;flex-wrap:wrap;gap:8px;padding:12px}
.card{background:#fff;border-radius:4px;padding:6px;width:310px;max-width:100%;box-sizing:border-box;
 box-shadow:0 1px 2px #0003}
.card[hidden]{display:none}
.card img{height:224px;width:100%;object-fit:contain;display:block;margin:auto}
.card h2{font-size:13px;margin:4px 0;overflow-wrap:anywhere}
.card ol{margin:0;padding-left:18px;font-size:12px}.flat,.wrong{color:#a00}.truth{margin:2px 0;font-size:12px}
h2.part{font-size:15px;margin:12px 12px 0}
table{border-collapse:collapse;background:#fff;font-size:12px}
th,td{border:1px solid #ccc;padding:3px 5px;text-align:right}th{background:#eee}th[data-sort]{cursor:pointer}
th[aria-sort=descending]::after{content:' \25BC'}th[aria-sort=ascending]::after{content:' \25B2'}
td.name,th.name{text-align:left}th[colspan]{text-align:center}tr[hidden]{display:none}td.best{font-weight:bold}
.wide{overflow-x:auto;margin:12px}table.means{margin:12px}
.curves{padding:0 12px}.curves img{max-width:100%;height:auto}
"""

# Filters and sorts the cards (or table rows) by the fragment; the controls rewrite the fragment. Each item's
# sort values are one JSON attribute: `dataset` would camel-case a key like `reciprocam-gaussian.adcc`.
_SCRIPT = """
function state(){const s={};for(const p of location.hash.slice(1).split('&')){const [k,v]=p.split('=');
 if(k)s[decodeURIComponent(k)]=decodeURIComponent(v||'')}return s}
function values(e){return e._values||(e._values=JSON.parse(e.dataset.values||'{}'))}
function apply(){const s=state(),box=document.getElementById('items'),items=box._all||(box._all=[...box.children]);
 const name=(s.name||'').toLowerCase();let shown=0;
 for(const e of items){const ok=(!s.class||e.dataset.top===s.class)&&(!s.flat||e.dataset.flat==='1')
  &&(!s.wrong||e.dataset.correct==='0')&&(!name||e.dataset.name.toLowerCase().includes(name));
  e.hidden=!ok;if(ok)shown++}
 const desc=!(s.sort||'').startsWith('-'),key=(s.sort||'').replace(/^-/,''),order=[...items];
 if(key)order.sort((a,b)=>{const x=values(a)[key],y=values(b)[key];return desc?y-x:x-y});
 for(const e of order)box.appendChild(e);
 for(const h of document.querySelectorAll('th[data-sort]')){if(h.dataset.sort===key)
  h.setAttribute('aria-sort',desc?'descending':'ascending');else h.removeAttribute('aria-sort')}
 for(const c of document.querySelectorAll('[data-control]'))if(c.value!==(s[c.dataset.control]||''))
  c.value=s[c.dataset.control]||'';
 const n=document.getElementById('count');if(n)n.textContent=shown+' of '+items.length;
 document.body.dataset.ready=Math.round(performance.now());}
function set(k,v){const s=state();if(v)s[k]=v;else delete s[k];
 history.replaceState(null,'','#'+Object.entries(s).map(([a,b])=>encodeURIComponent(a)+'='+encodeURIComponent(b))
 .join('&'));apply()}
addEventListener('click',e=>{const h=e.target.closest('th[data-sort]');if(h){const k=h.dataset.sort;
 set('sort',state().sort===k?'-'+k:k)}});
addEventListener('hashchange',apply);addEventListener('DOMContentLoaded',apply);
"""


def thumbnail_name(stem: str) -> str:
    return f"{THUMBS}/{stem}.jpg"


def link(path: str) -> str:
    """A file beside the page as an `href` or `src` value: percent-encoded, so that `#`, `?`, `%`, spaces and
    letters of any script stay part of the file's name instead of starting a fragment or a query, then
    HTML-escaped."""
    return html.escape(quote(path, safe="/"))


def _data(values: dict) -> str:
    """The attribute that carries an item's sort values (keys as the fragment's `sort=` names them)."""
    return f"data-values='{html.escape(json.dumps(values))}'"


def _page(title: str, settings: dict, body: Iterable[str]) -> Iterator[str]:
    """The page in pieces, as `write_page` writes them: a run's cards need never all be in memory."""
    rows = "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>" for k, v in settings.items())
    yield (
        f"<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>"
        f"<header><h1>{html.escape(title)}</h1><dl>{rows}</dl></header>"
    )
    yield from body
    yield "</body></html>"


def _options(control: str, choices: Sequence[tuple[str, str]], label: str) -> str:
    items = "".join(f"<option value='{html.escape(v)}'>{html.escape(t)}</option>" for v, t in choices)
    return (
        f"<label>{label} <select data-control='{control}' onchange=\"set('{control}',this.value)\">"
        f"{items}</select></label>"
    )


_NAME_FILTER = (
    "<label>photo <input type='search' data-control='name' placeholder='name contains' "
    "oninput=\"set('name',this.value)\"></label>"
)


def _truth(record: dict) -> str:
    if record.get("truth") is None:
        return ""
    verdict = "right" if record["correct"] else "wrong"
    return f"<p class='truth {verdict}'>true class: {html.escape(record['truth'])} ({verdict})</p>"


def explain_page(settings: dict, photos: Iterable[tuple[str, dict]], folder: Path) -> Iterator[str]:
    """The page of an explain run: a card per (stem, record) photo, with its thumbnail when `folder` has one,
    its true class when known, and the explained classes and scores linked to their overlays.

    photos: iterated twice (the filters, then the cards): a list, or a `rows.RowLog` that reads them anew.
    """
    labels, judged = set(), False
    for _, record in photos:
        labels.add(record["predictions"][0]["label"])
        judged = judged or record.get("truth") is not None
    tops = sorted(labels)
    nav = (
        "<nav>"
        + _NAME_FILTER
        + _options("class", [("", "every top class"), *((t, t) for t in tops)], "class")
        + _options("flat", [("", "every map"), ("1", "flat maps only")], "maps")
        + (_options("wrong", [("", "every prediction"), ("1", "wrong predictions only")], "truth") if judged else "")
        + _options(
            "sort", [("", "as explained"), ("score", "score, highest first"), ("-score", "score, lowest first")], "sort"
        )
        + "<span id='count'></span></nav>"
    )
    cards = (_explain_card(stem, record, folder) for stem, record in photos)
    return _page("ov-reciprocam explain", settings, chain([nav, "<main id='items'>"], cards, ["</main>"]))


def _explain_card(stem: str, record: dict, folder: Path) -> str:
    top = record["predictions"][0]
    flat = any(e["flat"] for e in record["explained"])
    name = Path(record["image"]).name
    thumb = thumbnail_name(stem)
    picture = f"<img src='{link(thumb)}' alt='{html.escape(name)}' loading='lazy'>" if (folder / thumb).exists() else ""
    explained = "".join(
        "<li>"
        + (f"<a href='{link(e['overlay'])}'>" if e["overlay"] else "")
        + f"{html.escape(e['label'])} {e['score']:.3f}"
        + ("</a>" if e["overlay"] else "")
        + (" <span class='flat'>(flat map)</span>" if e["flat"] else "")
        + "</li>"
        for e in record["explained"]
    )
    first = next((e["overlay"] for e in record["explained"] if e["overlay"]), None)
    picture = f"<a href='{link(first)}'>{picture}</a>" if first and picture else picture
    correct = "" if record.get("correct") is None else str(int(record["correct"]))
    return (
        f"<article class='card' data-top='{html.escape(top['label'])}' data-name='{html.escape(name)}' "
        f"data-flat='{int(flat)}' data-correct='{correct}' {_data({'score': top['score']})}>{picture}"
        f"<h2 title='{html.escape(record['image'])}'>{html.escape(name)}</h2>{_truth(record)}"
        f"<ol>{explained}</ol></article>"
    )


def detections_page(settings: dict, photos: Iterable[tuple[str, dict]], folder: Path) -> Iterator[str]:
    """The page of a detector's explain run: a card per detection of each (stem, record) photo (results.json's
    record), with its overlay's thumbnail when `folder` has it, linked to the overlay, its label, score and box on
    the photo.

    photos: iterated twice (the filters, then the cards), as `explain_page`'s.
    """
    labels = sorted({e["label"] for _, record in photos for e in record["detections"]})
    nav = (
        "<nav>"
        + _NAME_FILTER
        + _options("class", [("", "every class"), *((t, t) for t in labels)], "class")
        + _options("flat", [("", "every map"), ("1", "flat maps only")], "maps")
        + _options(
            "sort", [("", "as detected"), ("score", "score, highest first"), ("-score", "score, lowest first")], "sort"
        )
        + "<span id='count'></span></nav>"
    )
    cards = (_detection_cards(record, folder) for _, record in photos)
    body = chain([nav, "<main id='items'>"], cards, ["</main>"])
    return _page("ov-reciprocam explain (detections)", settings, body)


def _detection_cards(record: dict, folder: Path) -> str:
    name = Path(record["image"]).name
    cards = []
    for rank, e in enumerate(record["detections"], 1):
        thumb = e.get("thumbnail")
        picture = (
            f"<img src='{link(thumb)}' alt='{html.escape(name)}' loading='lazy'>"
            if thumb and (folder / thumb).exists()
            else ""
        )
        if e["overlay"] and picture:
            picture = f"<a href='{link(e['overlay'])}'>{picture}</a>"
        box = ", ".join(f"{v:.0f}" for v in e["box"])
        flat = " <span class='flat'>(flat map)</span>" if e["flat"] else ""
        cards.append(
            f"<article class='card' data-top='{html.escape(e['label'])}' data-name='{html.escape(name)}' "
            f"data-flat='{int(e['flat'])}' data-correct='' {_data({'score': e['score']})}>{picture}"
            f"<h2 title='{html.escape(record['image'])}'>{html.escape(name)} #{rank}</h2>"
            f"<ol><li>{html.escape(e['label'])} {e['score']:.3f}{flat}</li><li>box {box}</li></ol></article>"
        )
    return "".join(cards)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))


def _means(summary: dict, arrows: Mapping[str, str]) -> str:
    """Every number the summary holds, a row per metric (so that any number of them fits the width), a column
    per method; the better direction beside each metric's name, and the best method's value in bold."""
    methods = list(summary)
    keys = [k for k, v in next(iter(summary.values()), {}).items() if v is None or isinstance(v, (int, float))]
    rows = []
    for key in keys:
        values = [summary[m][key] for m in methods]
        numbers = [v for v in values if isinstance(v, (int, float))]
        best = None
        if arrows.get(key) and len(set(numbers)) > 1:  # when all are equal, none is best
            best = max(numbers) if arrows[key] == "↑" else min(numbers)
        cells = "".join(f"<td{' class=best' if v is not None and v == best else ''}>{_cell(v)}</td>" for v in values)
        rows.append(f"<tr><th class='name'>{html.escape(key)} {arrows.get(key, '')}</th>{cells}</tr>")
    head = "".join(f"<th>{html.escape(m)}</th>" for m in methods)
    note = "↑ higher is better, ↓ lower is better; the best method in bold"
    head = f"<caption>{note}</caption><tr><th class='name'>mean</th>{head}</tr>"
    return f"<table class='means'>{head}{''.join(rows)}</table>"


def eval_page(
    settings: dict,
    records: Sequence[dict],
    summary: dict,
    metrics: Sequence[str],
    curves: Sequence[str],
    arrows: Mapping[str, str],
) -> Iterator[str]:
    """The page of an eval run: the means, the curves, and a row per photo with every method's `metrics`.

    arrows: the better direction of each metric, "↑" or "↓", shown beside its name.
    """
    methods = list(summary)
    plots = "".join(f"<a href='{link(c)}'><img src='{link(c)}' alt='{html.escape(c)}'></a>" for c in curves)
    groups = "".join(f"<th colspan='{len(metrics)}'>{html.escape(name)}</th>" for name in methods)
    columns = [(f"{name}.{m}", f"{m} {arrows.get(m, '')}") for name in methods for m in metrics]
    # A name may break after its underscores: columns as narrow as their numbers fit a desktop's width.
    header = "".join(
        f"<th data-sort='{html.escape(key)}' title='{html.escape(key)}'>{html.escape(text).replace('_', '_<wbr>')}</th>"
        for key, text in columns
    )
    rows = []
    for r in records:
        values = {f"{name}.{m}": r["methods"][name][m] for name in methods for m in metrics}
        name = Path(r["image"]).name
        # The photo's name links to its side-by-side maps, when written.
        photo = f"<a href='{link(r['maps'])}'>{html.escape(name)}</a>" if r.get("maps") else html.escape(name)
        cells = "".join(f"<td>{values[k]:.3f}</td>" for k, _ in columns)
        rows.append(
            f"<tr data-top='{html.escape(r['label'])}' data-name='{html.escape(name)}' data-flat='0' {_data(values)}>"
            f"<td class='name'>{photo}</td><td class='name'>{html.escape(r['label']).replace('_', '_<wbr>')}</td>"
            f"{cells}</tr>"
        )
    photos = (
        "<div class='wide'><table><thead>"
        f"<tr><th class='name' rowspan='2'>photo</th><th class='name' rowspan='2'>class</th>"
        f"{groups}</tr><tr>{header}</tr></thead><tbody id='items'>{''.join(rows)}</tbody></table></div>"
    )
    nav = (
        f"<nav>{_NAME_FILTER}<span>click a column to sort by it, again to reverse</span><span id='count'></span></nav>"
    )
    body = f"<h2 class='part'>means</h2>{_means(summary, arrows)}{nav}{photos}<div class='curves'>{plots}</div>"
    return _page("ov-reciprocam eval", settings, [body])


def write_page(path: str | Path, page: Iterable[str]) -> Path:
    """The page's pieces written as they come, in UTF-8."""
    return files.write_with(path, lambda f: f.writelines(piece.encode() for piece in page))


def settings_of(header: dict) -> dict:
    """The run's settings as the page lists them: scalars only (the labels are long)."""
    return {k: v for k, v in header.items() if isinstance(v, (str, int, float)) and k != "labels"}
