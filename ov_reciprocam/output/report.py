"""report.html: one self-contained page a browser opens from disk (no server, no network) to browse a run.

The page carries its own CSS and JavaScript and links to the run's files by relative paths. Its
state lives in the address's fragment (`report.html#class=macaw&flat=1&sort=score`), so a link
opens the page filtered and sorted, and the page stays one static file however it is browsed.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from . import files

THUMBS = "thumbs"  # the folder of the report's small pictures, one per photo
THUMB_HEIGHT = 128  # px: a thousand cards load at once

_STYLE = """
body{font:14px system-ui,sans-serif;margin:0;background:#f4f4f4;color:#222}
header{background:#222;color:#eee;padding:10px 16px}header h1{font-size:18px;margin:0 0 6px}
header dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0;font-size:12px}
header dt{color:#aaa}header dd{margin:0}
nav{padding:8px 16px;background:#ddd;display:flex;gap:16px;align-items:center;position:sticky;top:0}
#count{margin-left:auto}
main{display:flex;flex-wrap:wrap;gap:8px;padding:12px}
.card{background:#fff;border-radius:4px;padding:6px;width:230px;box-shadow:0 1px 2px #0003}
.card[hidden]{display:none}.card img{height:128px;max-width:100%;display:block;margin:auto}
.card h2{font-size:13px;margin:4px 0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.card ol{margin:0;padding-left:18px;font-size:12px}.flat{color:#a00}
table{border-collapse:collapse;margin:12px;background:#fff;font-size:12px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}th{cursor:pointer;background:#eee}
td.name,th.name{text-align:left}tr[hidden]{display:none}
.curves img{height:220px;margin:0 12px}
"""

# Filters and sorts the cards (or table rows) by the fragment; the controls rewrite the fragment.
_SCRIPT = """
function state(){const s={};for(const p of location.hash.slice(1).split('&')){const [k,v]=p.split('=');
 if(k)s[decodeURIComponent(k)]=decodeURIComponent(v||'')}return s}
function apply(){const s=state(),box=document.getElementById('items'),items=[...box.children];
 let shown=0;for(const e of items){const ok=(!s.class||e.dataset.top===s.class)&&(!s.flat||e.dataset.flat==='1');
  e.hidden=!ok;if(ok)shown++}
 if(s.sort){const desc=s.sort[0]!=='-',key=s.sort.replace(/^-/,'');
  items.sort((a,b)=>{const x=parseFloat(a.dataset[key]),y=parseFloat(b.dataset[key]);return desc?y-x:x-y});
  for(const e of items)box.appendChild(e)}
 for(const c of document.querySelectorAll('[data-control]'))c.value=s[c.dataset.control]||'';
 const n=document.getElementById('count');if(n)n.textContent=shown+' of '+items.length;
 document.body.dataset.ready=Math.round(performance.now());}
function set(k,v){const s=state();if(v)s[k]=v;else delete s[k];
 location.hash=Object.entries(s).map(([a,b])=>encodeURIComponent(a)+'='+encodeURIComponent(b)).join('&')}
addEventListener('hashchange',apply);addEventListener('DOMContentLoaded',apply);
"""


def thumbnail_name(stem: str) -> str:
    return f"{THUMBS}/{stem}.jpg"


def _page(title: str, settings: dict, body: str) -> str:
    rows = "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>" for k, v in settings.items())
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>"
        f"<header><h1>{html.escape(title)}</h1><dl>{rows}</dl></header>{body}</body></html>"
    )


def _options(control: str, choices: Sequence[tuple[str, str]], label: str) -> str:
    items = "".join(f"<option value='{html.escape(v)}'>{html.escape(t)}</option>" for v, t in choices)
    return (
        f"<label>{label} <select data-control='{control}' onchange=\"set('{control}',this.value)\">"
        f"{items}</select></label>"
    )


def explain_page(settings: dict, photos: Sequence[tuple[str, dict]], folder: Path) -> str:
    """The page of an explain run: a card per (stem, record) photo, with its thumbnail when `folder` has one,
    its likeliest class and score, and the explained classes linked to their overlays."""
    cards, tops = [], set()
    for stem, record in photos:
        top = record["predictions"][0]
        tops.add(top["label"])
        flat = any(e["flat"] for e in record["explained"])
        thumb = thumbnail_name(stem)
        picture = f"<img src='{html.escape(thumb)}' alt='' loading='lazy'>" if (folder / thumb).exists() else ""
        explained = "".join(
            "<li>"
            + (f"<a href='{html.escape(e['overlay'])}'>" if e["overlay"] else "")
            + f"{html.escape(e['label'])} {e['score']:.3f}"
            + ("</a>" if e["overlay"] else "")
            + (" <span class='flat'>(flat map)</span>" if e["flat"] else "")
            + "</li>"
            for e in record["explained"]
        )
        first = next((e["overlay"] for e in record["explained"] if e["overlay"]), None)
        picture = f"<a href='{html.escape(first)}'>{picture}</a>" if first and picture else picture
        cards.append(
            f"<article class='card' data-top='{html.escape(top['label'])}' data-score='{top['score']:.6f}' "
            f"data-flat='{int(flat)}'>{picture}<h2 title='{html.escape(record['image'])}'>"
            f"{html.escape(Path(record['image']).name)}</h2><ol>{explained}</ol></article>"
        )
    nav = (
        "<nav>"
        + _options("class", [("", "every top class"), *((t, t) for t in sorted(tops))], "class")
        + _options("flat", [("", "every map"), ("1", "flat maps only")], "maps")
        + _options(
            "sort", [("", "as explained"), ("score", "score, highest first"), ("-score", "score, lowest first")], "sort"
        )
        + "<span id='count'></span></nav>"
    )
    return _page("ov-reciprocam explain", settings, f"{nav}<main id='items'>{''.join(cards)}</main>")


def eval_page(
    settings: dict, records: Sequence[dict], summary: dict, metrics: Sequence[str], curves: Sequence[str]
) -> str:
    """The page of an eval run: the summary, the curves, and a row per photo with every method's metrics."""
    methods = list(summary)
    head = "".join(f"<th>{html.escape(m)}</th>" for m in metrics)
    means = "".join(
        f"<tr><td class='name'>{html.escape(name)}</td>" + "".join(f"<td>{s[m]:.3f}</td>" for m in metrics) + "</tr>"
        for name, s in summary.items()
    )
    table = f"<table><tr><th class='name'>mean</th>{head}</tr>{means}</table>"
    plots = "".join(
        f"<a href='{html.escape(c)}'><img src='{html.escape(c)}' alt='{html.escape(c)}'></a>" for c in curves
    )
    columns = [(f"{name}.{m}", f"{name} {m}") for name in methods for m in metrics]
    header = "".join(
        f"<th onclick=\"set('sort',state().sort==='{key}'?'-{key}':'{key}')\">{html.escape(text)}</th>"
        for key, text in columns
    )
    rows = []
    for r in records:
        values = {f"{name}.{m}": r["methods"][name][m] for name in methods for m in metrics}
        data = " ".join(f"data-{html.escape(k)}='{v:.6f}'" for k, v in values.items())
        link = f"<a href='{html.escape(r['maps'])}'>maps</a>" if r.get("maps") else ""
        cells = "".join(f"<td>{values[k]:.3f}</td>" for k, _ in columns)
        rows.append(
            f"<tr data-top='{html.escape(r['label'])}' data-flat='0' {data}><td class='name'>"
            f"{html.escape(Path(r['image']).name)}</td><td class='name'>{html.escape(r['label'])}</td>"
            f"<td class='name'>{link}</td>{cells}</tr>"
        )
    photos = (
        f"<table><thead><tr><th class='name'>photo</th><th class='name'>class</th><th class='name'></th>{header}</tr>"
        f"</thead><tbody id='items'>{''.join(rows)}</tbody></table>"
    )
    nav = "<nav><span>click a column to sort by it</span><span id='count'></span></nav>"
    return _page("ov-reciprocam eval", settings, f"{table}<div class='curves'>{plots}</div>{nav}{photos}")


def write_page(path: str | Path, page: str) -> Path:
    return files.write_bytes(path, page.encode())


def settings_of(header: dict) -> dict:
    """The run's settings as the page lists them: scalars only (the labels are long)."""
    return {k: v for k, v in header.items() if isinstance(v, (str, int, float)) and k != "labels"}
