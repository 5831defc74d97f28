"""report.html: every control and host named, everything escaped, nothing loaded from outside."""

import re
from html.parser import HTMLParser

import pytest

from provisioning import cli
from provisioning.report import catalogue
from tests.unit.report_runs import make_run

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    return tmp_path


class Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(text: str) -> list[tuple[str, dict]]:
    parser = Tags()
    parser.feed(text)
    return parser.tags


def test_every_control_and_every_host_is_named():
    text = (make_run() / "report.html").read_text()
    for control in catalogue.load():
        assert f'id="{control["id"]}"' in text, control["id"]
    for host in ("bastion1", "web1", "db1", "backup1", "mon1", "stage"):
        assert f"<td>{host}</td>" in text, host


def test_a_hostile_evidence_value_is_text_not_markup():
    text = (make_run() / "report.html").read_text()
    assert "&lt;script&gt;alert(&#x27;from the host&#x27;)&lt;/script&gt;" in text
    assert "<script" not in text.lower()
    assert [t for t, _ in tags(text) if t in ("script", "iframe", "object", "embed")] == []


def test_nothing_is_loaded_from_anywhere():
    text = (make_run() / "report.html").read_text()
    for tag, attrs in tags(text):
        assert tag not in ("link", "img", "script"), tag
        for name in ("src", "href", "action", "srcset"):
            assert name not in attrs, (tag, attrs)
    assert not re.search(r"url\(", text)
    assert "default-src 'none'" in text  # the page's own CSP refuses anything that slips in


def test_long_evidence_is_folded():
    text = (make_run() / "report.html").read_text()
    assert "<details><summary><b>iptables -S INPUT</b>" in text


def test_not_ours_shows_who_and_the_document():
    text = (make_run("production", junit="<testsuites/>") / "report.html").read_text()
    section = text.split('id="PHYS-01"', 1)[1].split("</section>", 1)[0]
    assert "not ours" in section and "hosting provider" in section
    assert "ISO/IEC 27001 certificate" in section


def test_dutch_labels_and_the_sections_as_they_are(capsys):
    run = make_run()
    assert cli.main(["report", "show", str(run), "--lang", "nl"]) == 0
    path = capsys.readouterr().out.strip()
    assert path == str(run / "report.nl.html")
    text = (run / "report.nl.html").read_text()
    assert '<html lang="nl">' in text and "Samenvatting per beleidsonderdeel" in text
    assert "voldoet niet" in text and "Beveiliging van dataverkeer" in text
    # the English report is the run's own
    assert cli.main(["report", "show", str(run)]) == 0
    assert capsys.readouterr().out.strip() == str(run / "report.html")


def test_show_of_a_stage_without_runs_is_one_sentence(capsys):
    assert cli.main(["report", "show", "test"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "otap: error: stage test has no report run latest (it has none yet)."
