"""OTAP-01 on the stage itself: what an acceptance or production host runs, test ran first.

Every host records its installed packages (evidence, so that `otap report diff test production`
shows the versions side by side). On acceptance and production each installed version must be
in test's own record of what ran there: the hosts' dpkg logs, read through test's SSH config,
the same record `otap stage patch` decides by (provisioning/steps/patch.py).
"""

import pytest

from provisioning.stage import OtapError, load_stage
from provisioning.steps import patch

# the stages that only take versions that ran on test first
PROTECTED = ("acceptance", "production")


def installed(host) -> dict[str, str]:
    """{package: version} of what dpkg has installed (not removed ones)."""
    out = host.check_output("dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\\n'")
    return {
        fields[1]: fields[2]
        for fields in (line.split() for line in out.splitlines())
        if len(fields) == 3 and fields[0] == "ii"
    }


@pytest.fixture(scope="session")
def ran_on_test():
    """{(package, version)} that ran on test, or the sentence why it could not be read."""
    try:
        return set(patch.test_history(load_stage(patch.SOURCE_STAGE))), None
    except (OtapError, OSError) as exc:
        return None, f"stage {patch.SOURCE_STAGE}'s record could not be read: {exc}"


@pytest.mark.control("OTAP-01")
def test_every_package_version_ran_on_test_first(host, stage, evidence, request):
    packages = evidence("installed packages", installed(host))
    if stage.name not in PROTECTED:
        pytest.skip(
            f"not applicable on {stage.name}: it takes updates itself (OS-03); acceptance and "
            f"production take only versions that ran on {patch.SOURCE_STAGE} first"
        )
    seen, why = request.getfixturevalue("ran_on_test")
    if seen is None:
        pytest.skip(why)
    untested = {name: v for name, v in packages.items() if (name, v) not in seen}
    evidence(f"versions {patch.SOURCE_STAGE} never ran", untested)
    assert not untested, f"{len(untested)} package versions never ran on {patch.SOURCE_STAGE}"
