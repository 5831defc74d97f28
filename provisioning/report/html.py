"""report.html: the report for an auditor, in one file (inline CSS; no script, no outside asset).

Everything in it comes from report.json and is escaped: values come from the hosts. The policy
sections are Dutch already; only the labels are translated (LABELS).
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

LANGUAGES = ("en", "nl")
FOLD = 300  # evidence longer than this (characters) is folded in <details>

LABELS = {
    "en": {
        "title": "Verification report",
        "stage": "Stage",
        "lab": "the local lab",
        "real": "a real stage",
        "time": "Run",
        "commit": "Bundle commit",
        "dirty": "with uncommitted changes",
        "unknown": "unknown",
        "inventory": "Inventory (sha256)",
        "releases": "Releases on the web hosts",
        "none": "none",
        "summary": "Summary per policy section",
        "section": "Policy section",
        "controls": "Controls",
        "hold": "Hold on every host",
        "hosts_failed": "Hosts where a control fails",
        "all": "All sections",
        "control": "Control",
        "host": "Host",
        "status": "Status",
        "reason": "Why",
        "tests": "Tests",
        "evidence": "Evidence",
        "references": "References",
        "note": "Note",
        "responsible": "Responsible",
        "document": "Document",
        "no_document": "no document recorded",
        "ci_tests": "Also checked in CI",
        "no_hosts": "No host was checked in this run.",
        "pytest_exit": "pytest exit status",
        "unknown_controls": "Tests named controls that are not in the catalogue",
        "passed": "passed",
        "failed": "failed",
        "not_applicable": "not applicable",
        "not_checked": "not checked",
        "not_ours": "not ours",
    },
    "nl": {
        "title": "Verificatierapport",
        "stage": "Omgeving",
        "lab": "het lokale lab",
        "real": "een echte omgeving",
        "time": "Uitgevoerd",
        "commit": "Commit van de bundel",
        "dirty": "met niet-vastgelegde wijzigingen",
        "unknown": "onbekend",
        "inventory": "Inventaris (sha256)",
        "releases": "Releases op de webservers",
        "none": "geen",
        "summary": "Samenvatting per beleidsonderdeel",
        "section": "Beleidsonderdeel",
        "controls": "Maatregelen",
        "hold": "Voldoet op elke server",
        "hosts_failed": "Servers waar een maatregel faalt",
        "all": "Alle onderdelen",
        "control": "Maatregel",
        "host": "Server",
        "status": "Status",
        "reason": "Waarom",
        "tests": "Tests",
        "evidence": "Bewijs",
        "references": "Referenties",
        "note": "Toelichting",
        "responsible": "Verantwoordelijk",
        "document": "Document",
        "no_document": "geen document vastgelegd",
        "ci_tests": "Ook gecontroleerd in CI",
        "no_hosts": "In deze run is geen server gecontroleerd.",
        "pytest_exit": "Exitstatus van pytest",
        "unknown_controls": "Tests noemden maatregelen die niet in de catalogus staan",
        "passed": "voldoet",
        "failed": "voldoet niet",
        "not_applicable": "niet van toepassing",
        "not_checked": "niet gecontroleerd",
        "not_ours": "verantwoordelijkheid van derden",
    },
}

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; color: #111; margin: 2em auto; max-width: 70em;
       padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; margin-top: 2em; } h3 { font-size: 1.1em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0 1em; }
th, td { border: 1px solid #bbb; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #eee; }
dl.head { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dl.head dt { font-weight: bold; } dl.head dd { margin: 0; }
section.control { border-top: 2px solid #444; margin-top: 1.5em; padding-top: .3em;
                  break-inside: avoid-page; }
.status { font-weight: bold; white-space: nowrap; }
.passed { color: #155724; } .failed { color: #a00; } .not_checked { color: #8a5a00; }
.not_applicable, .not_ours { color: #444; }
pre { white-space: pre-wrap; word-break: break-word; margin: .2em 0; font-size: .9em; }
code { font-size: .9em; word-break: break-all; }
details > summary { cursor: pointer; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  details > *:not(summary) { display: block; }
  a { color: inherit; text-decoration: none; }
  h2 { break-before: auto; break-after: avoid; }
  tr { break-inside: avoid; }
}
"""


def render(data: dict, lang: str = "en") -> str:
    t = LABELS[lang]
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">',
        # a second guard beside the escaping: nothing in this file may load or run anything
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(t['title'])}: {_e(data['stage'])} {_e(data['started'])}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{_e(t['title'])}: {_e(data['stage'])}</h1>",
        _header(data, t),
        _summary(data, t),
        *(_control(c, t) for c in data["controls"]),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _e(value) -> str:
    return escape(str(value), quote=True)


def _status(status: str, t: dict) -> str:
    return f'<span class="status {_e(status)}">{_e(t.get(status, status))}</span>'


def _header(data: dict, t: dict) -> str:
    commit = data["bundle"]["commit"] or t["unknown"]
    if data["bundle"]["dirty"]:
        commit = f"{commit} ({t['dirty']})"
    if data["releases"] is None:
        releases = _e(data["releases_note"] or t["unknown"])
    else:
        releases = (
            ", ".join(f"{_e(h)}: {_e(r or t['none'])}" for h, r in data["releases"].items())
            or t["none"]
        )
    rows = [
        (t["stage"], f"{_e(data['stage'])} ({t['lab'] if data['lab'] else t['real']})"),
        (t["time"], f"{_e(data['started'])} – {_e(data['finished'])}"),
        (t["commit"], f"<code>{_e(commit)}</code>"),
        (
            t["inventory"],
            f"<code>{_e(data['inventory']['path'])}</code> <code>{_e(data['inventory']['sha256'])}</code>",
        ),
        (t["releases"], releases),
        (t["pytest_exit"], _e(data["pytest_exit"])),
    ]
    if data.get("unknown_controls"):
        rows.append((t["unknown_controls"], _e(", ".join(data["unknown_controls"]))))
    items = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<dl class="head">{items}</dl>'


def _summary(data: dict, t: dict) -> str:
    statuses = ("failed", "not_applicable", "not_checked", "not_ours")
    head = "".join(
        f"<th>{_e(x)}</th>"
        for x in (
            t["section"],
            t["controls"],
            t["hold"],
            *(t[s] for s in statuses),
            t["hosts_failed"],
        )
    )

    def row(name: str, counts: dict, tag: str = "td") -> str:
        cells = [name, counts["controls"], counts["passed"], *(counts[s] for s in statuses)]
        cells.append(", ".join(counts["hosts_failed"]) or "–")
        return "<tr>" + "".join(f"<{tag}>{_e(c)}</{tag}>" for c in cells) + "</tr>"

    rows = [row(s["policy"], s) for s in data["summary"]["sections"]]
    rows.append(row(t["all"], data["summary"]["totals"], "th"))
    return f"<h2>{_e(t['summary'])}</h2><table><tr>{head}</tr>{''.join(rows)}</table>"


def _evidence(items: list[dict], by_test: bool) -> str:
    """The evidence of one host; BY_TEST: name the test that read each (several tests ran)."""
    out = []
    for item in items:
        value = item["value"]
        text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
        name = f"<b>{_e(item['name'])}</b>"
        if by_test:
            name += f" <small><code>{_e(item['test'])}</code></small>"
        if len(text) > FOLD or text.count("\n") > 8:
            out.append(f"<details><summary>{name}</summary><pre>{_e(text)}</pre></details>")
        else:
            out.append(f"<div>{name}<pre>{_e(text)}</pre></div>")
    return "".join(out)


def _control(control: dict, t: dict) -> str:
    parts = [
        f'<section class="control" id="{_e(control["id"])}">',
        f"<h3>{_e(control['id'])}: {_e(control['title'])}</h3>",
        f"<p>{_e(control['policy'])} · {_status(control['status'], t)}",
    ]
    if control["reason"]:
        parts.append(f" — {_e(control['reason'])}")
    parts.append("</p>")
    if control["status"] == "not_ours":
        parts.append(
            f"<p>{_e(t['responsible'])}: {_e(control['responsible'] or t['unknown'])}<br>"
            f"{_e(t['document'])}: {_e(control['document'] or t['no_document'])}</p>"
        )
    if control["hosts"]:
        head = "".join(
            f"<th>{_e(x)}</th>"
            for x in (t["host"], t["status"], t["reason"], t["evidence"], t["tests"])
        )
        rows = [
            f"<tr><td>{_e(host)}</td><td>{_status(h['status'], t)}</td>"
            f"<td>{_e(h['reason'] or '')}</td><td>{_evidence(h['evidence'], len(h['tests']) > 1)}</td>"
            f"<td>{'<br>'.join(f'<code>{_e(x)}</code>' for x in h['tests'])}</td></tr>"
            for host, h in control["hosts"].items()
        ]
        parts.append(f"<table><tr>{head}</tr>{''.join(rows)}</table>")
    elif control["status"] != "not_ours":
        parts.append(f"<p>{_e(t['no_hosts'])}</p>")
    if control["ci_tests"]:
        tests = ", ".join(f"<code>{_e(x)}</code>" for x in control["ci_tests"])
        parts.append(f"<p>{_e(t['ci_tests'])}: {tests}</p>")
    if control["references"]:
        parts.append(f"<p>{_e(t['references'])}: {_e('; '.join(control['references']))}</p>")
    if control["note"]:
        parts.append(f"<p>{_e(t['note'])}: {_e(control['note'])}</p>")
    parts.append("</section>")
    return "".join(parts)


def in_language(run: Path, lang: str) -> Path:
    """RUN's report in LANG: report.html when it was written in LANG, else report.LANG.html
    (written from report.json when it is not there yet; report.json does not list it)."""
    data = json.loads((run / "report.json").read_text())
    if data.get("lang") == lang:
        return run / "report.html"
    path = run / f"report.{lang}.html"
    if not path.is_file():
        path.write_text(render(data, lang))
    return path
