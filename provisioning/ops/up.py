"""`otap up`: the main job. Lab up, bootstrap, converge, deploy, verify; then say what was built."""

from __future__ import annotations

import time

from provisioning.lab import hosts as lab
from provisioning.ops.converge import converge
from provisioning.releases import build, record
from provisioning.releases.deploy import deploy
from provisioning.stage import OtapError, Stage, UsageError, sshconfig
from provisioning.steps.bootstrap import bootstrap
from provisioning.steps.verify import latest_html, verify


def up(stage: Stage) -> int:
    stage_name = stage.name
    if not stage.lab:
        raise UsageError(
            f"`otap up` builds lab stages only; for {stage_name} run `otap stage bootstrap`, "
            "`otap stage converge` and `otap stage verify` one by one."
        )
    figures: dict[str, float] = {}
    t = time.monotonic()
    lab.up(stage)
    figures["lab up"] = time.monotonic() - t
    t = time.monotonic()
    bootstrap(stage)
    figures["bootstrap"] = time.monotonic() - t
    result = converge(stage, quiet=True)
    figures["converge"] = result.seconds
    if not result.ok:
        raise OtapError(f"converge of stage {stage_name} failed; see {stage.log('converge')}.")
    t = time.monotonic()
    built = build.build(allow_dirty=True, say=lambda text: None)
    figures["release build"] = time.monotonic() - t
    t = time.monotonic()
    deploy(stage, built.id, demo=True)
    figures["deploy"] = time.monotonic() - t
    t = time.monotonic()
    releases = record.current_on_hosts(stage)
    code = verify(stage, extra=["-p", "no:warnings"], quiet=True, releases=releases)
    figures["verify"] = time.monotonic() - t
    if code != 0:
        raise OtapError(
            f"verification of stage {stage_name} failed; run `otap stage verify {stage_name}` "
            "to see which controls do not hold."
        )
    config = stage.ssh_config
    print()
    print(lab.format_status(lab.status(stage)))
    print()
    print("timings: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in figures.items()))
    print("every host is bootstrapped, converged (site.yml) and verified (tests/infra);")
    print(f"verification report: {latest_html(stage)}. Next:")
    admin = sshconfig.admin_user(stage)
    print(f"  ssh -F {config} web1   # as {admin}, through {stage.bastion.name}")
    print(f"  otap stage converge {stage_name}   # after changing a role")
    print(f"  otap stage verify {stage_name}     # check every control again")
    print(f"  otap monitor open {stage_name}     # Prometheus and Alertmanager through the bastion")
    print(
        f"  otap alerts {stage_name}           # what fires (alert mails: /var/mail/operators on mon1)"
    )
    print(f"  otap lab down {stage_name}         # remove the lab completely")
    print_app(stage, built.id)
    return 0


DEMO_ACCOUNTS = [
    ("organisation manager", "manager@demo.safecoach.test"),
    ("coach", "anna.coach@demo.safecoach.test"),
    ("coach", "bram.coach@demo.safecoach.test"),
    ("client of Anna", "carla@demo.safecoach.test"),
    ("client of Bram", "fleur@demo.safecoach.test"),
    ("platform staff (/admin/)", "staff@demo.safecoach.test"),
]


def print_app(stage, release_id: str) -> None:
    """Where the deployed app is, which CA to trust, and who to sign in as."""
    print()
    print(f"the app (release {release_id}) with demo data: https://{stage.vars['public_name']}/")
    print(f"  trust the lab's CA to open it without a warning: {stage.ca_cert}")
    print(
        f"  for example: curl --cacert {stage.ca_cert} https://{stage.vars['public_name']}/healthz"
    )
    print("  demo accounts, all with the password Demo-Safecoach-2026 (README.md lists every one):")
    for role, email in DEMO_ACCOUNTS:
        print(f"    {email:<34} {role}")
    print(
        "  mail and SMS codes of the lab: /var/lib/safecoach/mail and /var/lib/safecoach/sms.jsonl"
        " on web1 (otap stage ssh development web1 -- sudo tail /var/lib/safecoach/sms.jsonl)"
    )
