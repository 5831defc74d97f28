"""The export: a ZIP of JSON files that match their schema and the database; behind the password,
logged; bad confirmations change nothing."""

import io
import json
import time
import zipfile

import jsonschema
import pytest
from django.urls import reverse

from privacy.export import SCHEMA
from privacy.forms import issue_token
from privacy.models import AccessKind, AccessLogEntry
from tests.fixtures.world import PASSWORD, SECRET

pytestmark = [pytest.mark.app, pytest.mark.control("PRIV-02")]

URL = reverse("privacy:export")


def _post(http, actor, **overrides):
    data = {"password": PASSWORD, "token": issue_token(actor, "export"), **overrides}
    return http.post(URL, data)


def _unzip(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="safecoach-export-')
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    return {name: archive.read(name).decode() for name in archive.namelist()}


def _validate(files):
    schema = json.loads(files["schema.json"])
    assert schema == SCHEMA  # the documented schema is the one shipped
    data = {}
    for name, file_schema in schema["files"].items():
        jsonschema.Draft202012Validator.check_schema(file_schema)
        data[name] = json.loads(files[name])
        jsonschema.Draft202012Validator(
            file_schema, format_checker=jsonschema.FormatChecker()
        ).validate(data[name])
    return data


def test_the_client_export_matches_schema_and_database(world, login):
    http = login(world.client_a)
    http.get(reverse("coaching:dialogue", args=[world.client_a.pk]))  # a visit of their own
    login(world.coach_a).get(reverse("coaching:dialogue", args=[world.client_a.pk]))
    http = login(world.client_a)
    files = _unzip(_post(http, world.client_a))
    assert set(files) == {
        "README.txt",
        "schema.json",
        "profile.json",
        "dialogue.json",
        "assignments.json",
        "access_log.json",
        "privacy_requests.json",
    }
    data = _validate(files)
    profile = data["profile.json"]["profile"]
    assert profile["email"] == world.client_a.email
    assert profile["coach"] == {"id": world.coach_a.pk, "full_name": world.coach_a.full_name}
    assert profile["processing_restricted"] is False
    (message,) = data["dialogue.json"]["messages"]
    assert message["body"] == world.message.body and message["sent_by"] == "coach"
    (assignment,) = data["assignments.json"]["assignments"]
    assert assignment["title"] == world.assignment.title
    assert assignment["answer"]["body"] == world.answer.body
    assert [c["body"] for c in assignment["comments"]] == [world.comment.body]
    (request,) = data["privacy_requests.json"]["requests"]
    assert request["kind"] == "correction" and request["details"] == "Typo"
    kinds = {(e["kind"], e["by_role"]) for e in data["access_log.json"]["entries"]}
    assert kinds == {("export", "self"), ("dialogue", "coach")}
    # professional secrecy: the coach's private note is not in the client's export
    assert world.note.body not in "".join(files.values())


def test_the_coach_export_holds_what_the_coach_wrote_only(world, login):
    files = _unzip(_post(login(world.coach_a), world.coach_a))
    data = _validate(files)
    (message,) = data["dialogue.json"]["messages"]
    assert message["id"] == world.message.pk
    (assignment,) = data["assignments.json"]["assignments"]
    assert assignment["answer"] is None  # the client's answer is the client's data
    assert world.note.body not in "".join(files.values())


def test_a_manager_export_has_no_dialogue(world, login):
    data = _validate(_unzip(_post(login(world.manager), world.manager)))
    assert data["dialogue.json"]["messages"] == []
    assert SECRET not in json.dumps(data)


def test_the_download_is_logged(world, login):
    _post(login(world.client_a), world.client_a)
    _post(login(world.client_a), world.client_a)
    entries = AccessLogEntry.objects.filter(subject=world.client_a, kind=AccessKind.EXPORT)
    assert entries.count() == 2  # every download, never coalesced
    assert {e.actor_id for e in entries} == {world.client_a.pk}


def _refused(response, text):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert text in response.content.decode()
    assert not AccessLogEntry.objects.filter(kind=AccessKind.EXPORT).exists()


def test_a_wrong_password_gives_no_export(world, login):
    response = _post(login(world.client_a), world.client_a, password="Wrong-Password-1")
    _refused(response, "That password is not correct.")


def test_a_token_of_another_user_is_refused(world, login):
    # client B's own page token, replayed by client A (or forged): refused, nothing exported
    response = _post(
        login(world.client_a), world.client_a, token=issue_token(world.client_b, "export")
    )
    _refused(response, "This form is not valid any more.")


def test_a_tampered_token_is_refused(world, login):
    token = issue_token(world.client_a, "export")
    response = _post(login(world.client_a), world.client_a, token=token[:-2] + "xx")
    _refused(response, "This form is not valid any more.")


def test_a_token_for_another_purpose_is_refused(world, login):
    response = _post(
        login(world.client_a), world.client_a, token=issue_token(world.client_a, "delete")
    )
    _refused(response, "This form is not valid any more.")


def test_a_stale_confirmation_is_refused(world, login, monkeypatch, settings):
    issued_at = time.time() - settings.PRIVACY_CONFIRMATION_SECONDS - 60
    monkeypatch.setattr("django.core.signing.time.time", lambda: issued_at)
    token = issue_token(world.client_a, "export")
    monkeypatch.undo()
    response = _post(login(world.client_a), world.client_a, token=token)
    _refused(response, "This confirmation has expired.")


def test_a_forged_user_field_is_ignored(world, login):
    """There is no way to name another person: extra fields change nothing."""
    files = _unzip(_post(login(world.client_b), world.client_b, user=world.client_a.pk, pk=1))
    data = _validate(files)
    assert data["profile.json"]["profile"]["id"] == world.client_b.pk
    assert SECRET not in "".join(files.values())


def test_the_page_issues_a_token_and_no_password(world, login):
    response = login(world.client_a).get(URL)
    html = response.content.decode()
    assert 'name="token"' in html and 'type="password"' in html
    assert PASSWORD not in html


def test_a_former_clients_dialogue_is_not_in_the_coach_export(world, login):
    from organisations.services import reassign_client

    reassign_client(world.client_a, world.coach_b)
    data = _validate(_unzip(_post(login(world.coach_a), world.coach_a)))
    assert data["dialogue.json"]["messages"] == []
    assert data["assignments.json"]["assignments"] == []
    # the client keeps all of it
    data = _validate(_unzip(_post(login(world.client_a), world.client_a)))
    assert len(data["dialogue.json"]["messages"]) == 1
