"""`otap report diff A B`: what changed, and exit 1 only when a control got worse."""

import json

import pytest

from provisioning import cli
from provisioning.report.diff import narrowed, worse
from tests.unit.report_runs import FIXTURE, STARTED, make_run

pytestmark = pytest.mark.unit

ACC03_DB1 = '<property name="host" value="db1" /></properties></testcase>'
SSH02_WEB1_FAILURE = (
    '<failure message="AssertionError: weak key exchange offered: diffie-hellman-group14-sha1'
    '&#10;assert ...">tests/infra/test_ssh.py:45: AssertionError</failure>'
)


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    return tmp_path


def runs_with(*changes: tuple[str, str]):
    """Run A from the fixture, then run B (the stage's latest) with CHANGES to its junit."""
    a = make_run(started=STARTED)
    junit = FIXTURE.read_text()
    for old, new in changes:
        assert old in junit, old
        junit = junit.replace(old, new)
    b = make_run(junit=junit, started=STARTED + 3600)
    return a, b


def diff_json(capsys, a: str, b: str) -> tuple[int, dict, str]:
    code = cli.main(["report", "diff", a, b, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_a_changed_evidence_value_is_named_exactly(capsys):
    a, _ = runs_with(("not json at all", "changed on the host"))
    code, info, err = diff_json(capsys, str(a), "development")
    assert (code, err) == (0, "")
    assert info["evidence"] == [
        {
            "control": "BAS-01",
            "host": "bastion1",
            "name": "evidence 2",
            "old": '"not json at all"',
            "new": '"changed on the host"',
        }
    ]
    assert info["statuses"] == [] and info["worse"] is False
    assert cli.main(["report", "diff", str(a), "development"]) == 0
    text = capsys.readouterr().out
    assert 'BAS-01 on bastion1, evidence 2: "not json at all" → "changed on the host"' in text
    assert text.startswith(f"A: {a} (stage development, 2026-12-06T03:15:00Z)\nB: ")


def test_a_control_that_got_worse_exits_1_and_says_which(capsys):
    runs_with(
        (
            ACC03_DB1,
            ACC03_DB1.replace("</properties>", '</properties><failure message="no sudo.log"/>'),
        )
    )
    code, info, err = diff_json(capsys, "development@20261206T031500Z", "development")
    assert code == 1
    assert info["statuses"] == [
        {"control": "ACC-03", "host": "db1", "old": "passed", "new": "failed", "worse": True}
    ]
    assert err.strip().splitlines()[-1] == (
        "otap: error: 1 control(s) got worse from A to B: ACC-03 on db1."
    )


def test_a_control_that_got_better_exits_0(capsys):
    runs_with((SSH02_WEB1_FAILURE, ""))
    code, info, _ = diff_json(capsys, "development@20261206T031500Z", "development")
    assert code == 0
    assert info["statuses"] == [
        {"control": "SSH-02", "host": "web1", "old": "failed", "new": "passed", "worse": False}
    ]


def test_hosts_added_and_removed(capsys):
    runs_with(
        (
            'value="mon1" /><property name="evidence" value="{&quot;name&quot;: &quot;sshd -T',
            'value="web2" /><property name="evidence" value="{&quot;name&quot;: &quot;sshd -T',
        )
    )
    _, info, _ = diff_json(capsys, "development@20261206T031500Z", "development")
    assert (info["hosts_added"], info["hosts_removed"]) == (["web2"], [])


@pytest.mark.parametrize(
    ("old", "new", "is_worse"),
    [
        ("passed", "failed", True),
        ("passed", "not_checked", True),
        ("not_checked", "failed", True),
        ("failed", "passed", False),
        ("passed", "not_applicable", False),
        ("not_applicable", "failed", False),
        ("passed", "not_ours", False),
    ],
)
def test_what_counts_as_worse(old, new, is_worse):
    assert worse(old, new) is is_worse


@pytest.mark.parametrize(
    ("spec", "sentence"),
    [
        ("nosuchstage", "'nosuchstage' is neither a run folder nor a stage (or STAGE@RUN)"),
        ("development@20990101T000000Z", "stage development has no report run 20990101T000000Z"),
        ("test", "stage test has no report run latest (it has none yet)."),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(spec, sentence, capsys):
    make_run()
    assert cli.main(["report", "diff", spec, "development"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("otap: error: ") and sentence in err and "\n" not in err


def test_a_folder_that_is_no_run_is_bad_input(tmp_path, capsys):
    assert cli.main(["report", "diff", str(tmp_path), "development"]) == 2
    assert "is no report run folder" in capsys.readouterr().err


def test_of_two_objects_only_the_keys_that_differ_are_shown():
    # one package removed and one upgraded among many: those two alone
    old = json.dumps({"bash": "5.2", "less": "668-1", "tzdata": "2025a"})
    new = json.dumps({"bash": "5.2", "tzdata": "2025b"})
    assert narrowed(old, new) == (
        json.dumps({"less": "668-1", "tzdata": "2025a"}),
        json.dumps({"tzdata": "2025b"}),
    )
    # other values, and evidence only one run has, stay as they are
    assert narrowed('"a"', '"b"') == ('"a"', '"b"')
    assert narrowed(None, '{"x": 1}') == (None, '{"x": 1}')
