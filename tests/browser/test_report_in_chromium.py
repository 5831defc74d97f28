"""report.html as an auditor opens it: from a file, in Chromium, loading nothing else."""

import pytest

from tests.unit.report_runs import make_run

pytestmark = pytest.mark.browser


@pytest.fixture
def report(tmp_path, monkeypatch):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    return make_run() / "report.html"


def test_the_report_opens_from_a_file_with_no_error_and_no_request(chromium, report):
    context = chromium.new_context()
    page = context.new_page()
    problems, requests = [], []
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(report.as_uri())
        page.wait_for_load_state("networkidle")
        assert page.title().startswith("Verification report: development")
        # the hostile evidence shows as text and ran nothing
        assert "<script>alert('from the host')</script>" in page.inner_text("body")
        assert page.locator("section.control").count() >= 90
        # folded evidence opens without a script
        page.click("details summary")
        assert page.locator("details[open]").count() == 1
        page.emulate_media(media="print")
        assert page.pdf()  # prints
    finally:
        context.close()
    assert problems == []
    assert requests == [report.as_uri()]
