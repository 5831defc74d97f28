"""otap: stages, the local lab, day-0 bootstrap, converge, verify, releases and backups.

One shape for every command: `otap NOUN VERB [STAGE] …` (lab, stage, release, backup, monitor),
and the main job `otap up`. Every command has --help; the exit statuses are in EPILOG. The older
spellings (`otap converge STAGE`, `otap releases STAGE`, `otap backup STAGE now` …) still work for
one release, with one line on stderr naming the new spelling (OLD_SPELLINGS).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from provisioning.remote.progress import say
from provisioning.remote.target import RemoteFailure
from provisioning.stage import OtapError, Stage, UsageError, load_stage, sshconfig, stage_names

DEFAULT_STAGE = "development"

EPILOG = """\
exit status:
  0    ok
  1    the thing failed: a check that does not hold, a failed converge, deploy or backup, an
       unreachable host (one sentence on stderr)
  2    bad usage: an unknown command or option, an unknown stage, host, group, release or
       snapshot, options that do not go together (one sentence on stderr)
  130  interrupted (Ctrl-C)

--json (lab status, stage converge, stage verify, release list, backup status and snapshots,
monitor alerts, report diff): JSON on stdout, everything else on stderr; the keys are in
docs/architecture.md. otap monitor alerts exits 1 when an alert other than the Watchdog fires,
or the Watchdog does not; otap report diff when a control got worse; otap report check when a
file or the signature does not check.

Every otap stage verify is kept: <state>/<stage>/reports/<UTC time>/ with junit.xml,
report.json and report.html (reports/latest: the newest); docs/audit.md tells how to read them.

Old spellings (otap converge STAGE, otap releases STAGE, otap backup STAGE now …) still work in
this release and say on stderr what to type instead."""


SHORT_EPILOG = "exit status: 0 ok, 1 the thing failed, 2 bad usage (otap --help says more)"


def _stage_arg(parser: argparse.ArgumentParser, optional: bool = False) -> None:
    if optional:
        parser.add_argument(
            "stage", nargs="?", default=DEFAULT_STAGE, help=f"stage name (default {DEFAULT_STAGE})"
        )
    else:
        parser.add_argument("stage", help="stage name: development, test, acceptance, production")


def _json_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print JSON on stdout (progress goes to stderr)"
    )


def emit(args, data: dict) -> None:
    """The JSON of a command run with --json, on the real stdout (main sends the rest to stderr)."""
    out = getattr(args, "out", None) or sys.stdout
    out.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    out.flush()


def report(args, data: dict, text) -> int:
    """DATA as JSON with --json, else as TEXT(DATA) says it; 0."""
    if args.json:
        emit(args, data)
    else:
        print(text(data))
    return 0


# Every command is a function (args, stage): `stage` is the Stage that main() loaded once from
# the command's STAGE argument (None for commands without one). It returns 0, or raises OtapError
# (exit 1) or UsageError (exit 2) with one sentence.


def cmd_lab_up(args, stage: Stage) -> int:
    from provisioning.lab import hosts as lab

    timings = lab.up(stage)
    if "already_up" not in timings:
        built = timings.get("image_build")
        image = f"built in {built:.0f} s" if built else "from cache"
        say(f"stage {stage.name} is up in {timings['total']:.0f} s (image {image})")
    print(lab.format_status(lab.status(stage)))
    return 0


def cmd_lab_down(args, stage: Stage) -> int:
    from provisioning.lab import hosts as lab

    lab.down(stage)
    return 0


def cmd_lab_status(args, stage: Stage) -> int:
    from provisioning.lab import hosts as lab

    return report(args, lab.status(stage), lab.format_status)


def cmd_lab_console(args, stage: Stage) -> int:
    from provisioning.lab import hosts as lab

    lab.console(stage, args.host)
    return 0


def cmd_ssh_config(args, stage: Stage) -> int:
    if args.print:
        print(sshconfig.render(stage), end="")
    else:
        print(sshconfig.write(stage))
    return 0


def cmd_ssh(args, stage: Stage) -> int:
    from provisioning.remote.ssh import ssh_command

    if args.host not in stage.hosts:
        raise UsageError(
            f"stage {stage.name} has no host {args.host}; hosts: {', '.join(sorted(stage.hosts))}."
        )
    path = sshconfig.write(stage)
    os.execvp("ssh", [*ssh_command(path), args.host, *args.rest])  # noqa: S606
    return 0


def cmd_bootstrap(args, stage: Stage) -> int:
    from provisioning.steps.bootstrap import bootstrap

    return bootstrap(stage, accept_new_host_keys=args.accept_new_host_keys)


def cmd_converge(args, stage: Stage) -> int:
    from provisioning.ops.converge import converge

    result = converge(stage, check=args.check, tags=args.tags, limit=args.limit)
    if args.json:
        log = str(stage.log("converge"))
        emit(args, {"stage": stage.name, "check": args.check, "log": log, **result.summary()})
    if not result.ok:
        raise OtapError(
            f"converge of stage {stage.name} failed (failed={result.total('failed')}, "
            f"unreachable={result.total('unreachable')}); see {stage.log('converge')}."
        )
    return 0


def cmd_verify(args, stage: Stage) -> int:
    from provisioning.releases import record
    from provisioning.steps import verify

    code = verify.verify(
        stage,
        extra=args.rest,
        limit=args.limit,
        output=sys.stderr if args.json else None,
        releases=record.current_on_hosts(stage),
        lang=args.lang,
    )
    if args.json:
        emit(args, verify.summary(stage, code))
    if code != 0:  # pytest's 1-5 are all "the controls were not verified": otap's 1
        raise OtapError(verify.failure(stage, code))
    return 0


def cmd_patch(args, stage: Stage) -> int:
    from provisioning.steps.patch import patch

    return patch(
        stage, soak_days=args.soak_days, only_soaked=args.only_soaked, dry_run=args.dry_run
    )


def cmd_release_build(args, stage: None) -> int:
    from provisioning.releases import build

    build.build(allow_dirty=args.allow_dirty)
    return 0


BUILT_KEYS = ("release", "version", "commit", "dirty", "built_at", "wheel")


def cmd_release_list(args, stage: Stage | None) -> int:
    """Without STAGE the releases built here; with STAGE the releases on its web hosts."""
    if stage is not None:
        from provisioning.releases import record

        return report(args, record.on_stage(stage), record.format_on_stage)
    from provisioning.releases import build

    built = [{key: manifest.get(key) for key in BUILT_KEYS} for manifest in build.list_built()]
    return report(args, {"root": str(build.releases_root()), "releases": built}, format_built)


def format_built(info: dict) -> str:
    if not info["releases"]:
        return f"no release built yet in {info['root']}"
    return "\n".join(
        f"{r['release']:<28} built {r['built_at']}  commit {r['commit']}" for r in info["releases"]
    )


def cmd_release_verify(args, stage: None) -> int:
    from provisioning.releases import build

    found = build.find(args.release)
    print(f"release {found.id}: {len(found.manifest['files'])} files, every checksum matches")
    return 0


def cmd_deploy(args, stage: Stage) -> int:
    from provisioning.releases.deploy import deploy

    return deploy(stage, args.release)


def cmd_rollback(args, stage: Stage) -> int:
    from provisioning.releases.rollback import rollback

    return rollback(stage)


def cmd_promote(args, stage: None) -> int:
    from provisioning.releases.promote import promote

    return promote(args.source, args.target, args.release)


def cmd_backup(args, stage: Stage) -> int:
    from provisioning.ops import backup

    if getattr(args, "json", False):
        data = (backup.status_data if args.verb == "status" else backup.snapshots_data)(
            stage, host=args.host
        )
        emit(args, data)
        stale = [c["host"] for c in data["clients"] if c.get("current") is False]
        if stale:
            raise OtapError(
                f"the backups of stage {stage.name} are not current on {', '.join(stale)}; "
                "see `problem` in the JSON."
            )
        return 0
    return backup.backup(
        stage,
        args.verb,
        host=args.host,
        snapshot=getattr(args, "snapshot", None),
        name=getattr(args, "name", None),
        replace=getattr(args, "replace", False),
    )


def cmd_monitor_open(args, stage: Stage) -> int:
    from provisioning.ops import monitor

    sshconfig.write(stage)
    monitor.open_tunnel(
        stage, {"Prometheus": args.prometheus_port, "Alertmanager": args.alertmanager_port}
    )
    return 0


def cmd_monitor_alerts(args, stage: Stage) -> int:
    from provisioning.ops import monitor

    sshconfig.write(stage)
    data = monitor.fetch_alerts(stage)
    if not args.json:
        print(monitor.format_alerts(data))
        return 0 if monitor.alerts_ok(data) else 1
    emit(args, data)
    if not monitor.alerts_ok(data):
        raise OtapError(monitor.summary(data))
    return 0


def cmd_report_show(args, stage: None) -> int:
    from provisioning.report import html, runs

    print(html.in_language(runs.resolve(args.run), args.lang))
    return 0


def cmd_report_diff(args, stage: None) -> int:
    from provisioning.report import diff, runs

    a, b = runs.resolve(args.a), runs.resolve(args.b)
    info = diff.diff(diff.load(a), diff.load(b), str(a), str(b))
    report(args, info, diff.format_diff)
    worse = [
        f"{s['control']} on {s['host'] or 'every host'}" for s in info["statuses"] if s["worse"]
    ]
    if worse:
        raise OtapError(f"{len(worse)} control(s) got worse from A to B: {', '.join(worse)}.")
    return 0


def cmd_report_sign(args, stage: None) -> int:
    from pathlib import Path

    from provisioning.report import runs, sign

    print(sign.sign(runs.resolve(args.run), Path(args.key) if args.key else None))
    return 0


def cmd_report_check(args, stage: None) -> int:
    from pathlib import Path

    from provisioning.report import runs, sign

    run = runs.resolve(args.run)
    problems = sign.check(
        run,
        allowed_signers=Path(args.allowed_signers) if args.allowed_signers else None,
        identity=args.identity,
        key=Path(args.key) if args.key else None,
    )
    if problems:
        raise OtapError(f"the report {run} does not check: {' '.join(problems)}")
    print(f"the report {run}: every file matches report.json, and its signature is good")
    for name in sign.unlisted(run):
        print(f"  {name} is not covered by report.json (written after the run)")
    return 0


def cmd_up(args, stage: Stage) -> int:
    from provisioning.ops.up import up

    return up(stage)


# Steps that work on the hosts of a stage: on a lab stage they need every host running.
NEEDS_RUNNING_LAB = (cmd_bootstrap, cmd_converge, cmd_verify, cmd_patch)
# The commands that take arguments after `--`.
TAKES_REST = (cmd_ssh, cmd_verify)


# ---- the arguments of each command (shared by its new spelling and its old one) --------------


def _args_lab(p: argparse.ArgumentParser) -> None:
    _stage_arg(p, optional=True)


def _args_lab_status(p: argparse.ArgumentParser) -> None:
    _stage_arg(p, optional=True)
    _json_arg(p)


def _args_lab_console(p: argparse.ArgumentParser) -> None:
    p.add_argument("host", help="host name, for example web1")
    p.add_argument("--stage", default=DEFAULT_STAGE, help=f"lab stage (default {DEFAULT_STAGE})")


def _args_ssh_config(p: argparse.ArgumentParser) -> None:
    _stage_arg(p)
    p.add_argument("--print", action="store_true", help="print the config instead of its path")


def _args_ssh(p: argparse.ArgumentParser) -> None:
    _stage_arg(p)
    p.add_argument("host", help="host name, for example web1")
    p.epilog = (
        "Anything after -- is the command to run on the host: otap stage ssh test web1 -- uptime"
    )


def _args_bootstrap(p: argparse.ArgumentParser) -> None:
    _stage_arg(p)
    p.add_argument(
        "--accept-new-host-keys",
        action="store_true",
        help="real stages: pin host keys seen for the first time (compare fingerprints!)",
    )


def _args_converge(p: argparse.ArgumentParser) -> None:
    _stage_arg(p)
    p.add_argument("--check", action="store_true", help="dry run (ansible --check --diff)")
    p.add_argument("--tags", help="only tasks with these tags (comma-separated)")
    p.add_argument("--limit", help="only these hosts or groups")
    _json_arg(p)


def _args_verify(p: argparse.ArgumentParser) -> None:
    _stage_arg(p)
    p.add_argument("--limit", help="only these hosts or groups (comma-separated)")
    _lang_arg(p)
    _json_arg(p)
    p.epilog = (
        "Anything after -- goes to pytest: otap stage verify development -- -k journal; suites "
        "named there (tests/infra/test_ssh.py) replace the whole folder. Any failure of pytest "
        "(its exit statuses 1-5) is otap's exit status 1. Every run is kept in the stage's "
        "state folder, reports/<UTC time>/ (junit.xml, report.json, report.html); see "
        "`otap report`."
    )


def _lang_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lang", choices=("en", "nl"), default="en", help="the report's language (default en)"
    )


def _run_arg(p: argparse.ArgumentParser, optional: bool = False) -> None:
    what = "a run folder, a stage (its latest run) or STAGE@RUN (20261206T031500Z)"
    if optional:
        p.add_argument(
            "run", nargs="?", default=DEFAULT_STAGE, help=f"{what}; default {DEFAULT_STAGE}"
        )
    else:
        p.add_argument("run", help=what)


def _args_report_show(p: argparse.ArgumentParser) -> None:
    _run_arg(p, optional=True)
    _lang_arg(p)
    p.epilog = "Another language than the run's is written beside it as report.LANG.html."


def _args_report_diff(p: argparse.ArgumentParser) -> None:
    for name in ("a", "b"):
        p.add_argument(name, metavar=name.upper(), help="a run folder, a stage or STAGE@RUN")
    _json_arg(p)
    p.epilog = (
        "Exit status 1 when a control got worse on a host from A to B (passed to not checked or "
        "failed, not checked to failed); not applicable is neutral."
    )


def _args_report_sign(p: argparse.ArgumentParser) -> None:
    _run_arg(p)
    p.add_argument("--key", help="private SSH key (default: ~/.ssh/id_ed25519, id_ecdsa or id_rsa)")


def _args_report_check(p: argparse.ArgumentParser) -> None:
    _run_arg(p)
    p.add_argument("--allowed-signers", help="an ssh-keygen allowed_signers file")
    p.add_argument("--identity", help="the signer's name in that file")
    p.add_argument("--key", help="the signer's public key (default: ~/.ssh/id_ed25519.pub …)")
    p.epilog = (
        "Exit status 1 when a file differs from report.json, or the signature does not verify."
    )


def _args_patch(p: argparse.ArgumentParser) -> None:
    _stage_arg(p)
    p.add_argument(
        "--soak-days",
        type=float,
        default=None,
        help="days a version must have run on test (default $OTAP_SOAK_DAYS or 7)",
    )
    p.add_argument(
        "--only-soaked", action="store_true", help="install the soaked updates, leave the rest"
    )
    p.add_argument("--dry-run", action="store_true", help="say what would be installed")


def _args_release_list(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "stage",
        nargs="?",
        help="a stage: the releases on its web hosts (current, previous, verified); "
        "without it: the releases built on this machine",
    )
    _json_arg(p)


def _args_releases_old(p: argparse.ArgumentParser) -> None:
    _stage_arg(p)
    _json_arg(p)


def _args_deploy(p: argparse.ArgumentParser) -> None:
    _stage_arg(p)
    p.add_argument("release", nargs="?", help="release id, VERSION-COMMIT (default: newest built)")


def _args_promote(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="stage the release was verified on")
    p.add_argument("target", help="the next stage")
    p.add_argument("release", nargs="?", help="release id (default: the one current on SOURCE)")


def _args_backup(p: argparse.ArgumentParser) -> None:
    _stage_arg(p)
    p.add_argument("--host", help="only this backup client (default: every host of group db)")


def _args_backup_json(p: argparse.ArgumentParser) -> None:
    _args_backup(p)
    _json_arg(p)


def _args_backup_restore(p: argparse.ArgumentParser) -> None:
    _args_backup(p)
    p.add_argument("--snapshot", help="this snapshot id (default: the newest)")
    p.add_argument(
        "--as", dest="name", help="the new database's name (default safecoach_restore_<time>)"
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="then make the restored copy the app's database (the old one is kept aside)",
    )
    p.epilog = (
        "The dump goes into a new database beside the live one; --replace then switches the app "
        "to it (the live one is kept as safecoach_replaced_<time>)."
    )


def _args_old_backup(p: argparse.ArgumentParser) -> None:
    """`otap backup STAGE ACTION`: every option of every action, in the older spelling."""
    _args_backup_restore(p)
    p.add_argument("action", metavar="ACTION", help="now, status, drill, snapshots or restore")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535; 0 = a free one)")
    return port


def _args_monitor_open(p: argparse.ArgumentParser) -> None:
    _stage_arg(p)
    for service, option in (
        ("Prometheus", "--prometheus-port"),
        ("Alertmanager", "--alertmanager-port"),
    ):
        p.add_argument(
            option, type=_port, default=0, help=f"local port for {service} (default 0: a free one)"
        )
    p.epilog = "Until Ctrl-C, through the stage's bastion. `otap monitor STAGE` is the same."


def _args_monitor_alerts(p: argparse.ArgumentParser) -> None:
    _stage_arg(p)
    _json_arg(p)
    p.epilog = (
        "Exit status 0 when nothing but the Watchdog fires; 1 when another alert fires or the "
        "Watchdog does not (then alerting itself is broken)."
    )


def _args_release_build(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-dirty",
        action="store_true",
        help="build with uncommitted changes (named …dirty; refused by real stages)",
    )


def _args_release_verify(p: argparse.ArgumentParser) -> None:
    p.add_argument("release", nargs="?", help="release id, VERSION-COMMIT (default: newest)")


# (noun, verb, function, help, arguments, old spelling or None). The old spellings are the top-
# level commands of the older spellings; their parsers are built from the same arguments.
# fmt: off
COMMANDS = [
    ("lab", "up", cmd_lab_up,
     "bring a lab stage up (idempotent)", _args_lab, None),
    ("lab", "down", cmd_lab_down,
     "remove every container, mount, namespace and link", _args_lab, None),
    ("lab", "status", cmd_lab_status,
     "hosts, groups, addresses and state of a lab stage", _args_lab_status, None),
    ("lab", "console", cmd_lab_console,
     "a root shell inside a lab host, without SSH", _args_lab_console, None),
    ("stage", "bootstrap", cmd_bootstrap,
     "day 0 with pyinfra: admins, sudo, hostname, hosts, apt", _args_bootstrap, "bootstrap"),
    ("stage", "converge", cmd_converge,
     "ansible-playbook -i inventories/STAGE site.yml", _args_converge, "converge"),
    ("stage", "verify", cmd_verify,
     "run the testinfra suites (tests/infra) against a stage", _args_verify, "verify"),
    ("stage", "patch", cmd_patch,
     "OS updates: test first; later stages only what has soaked on test", _args_patch, "patch"),
    ("stage", "ssh", cmd_ssh,
     "ssh to a host of a stage through its bastion", _args_ssh, "ssh"),
    ("stage", "ssh-config", cmd_ssh_config,
     "write the stage's OpenSSH config (ProxyJump, pinned keys)", _args_ssh_config, "ssh-config"),
    ("release", "list", cmd_release_list,
     "releases built here, or on a stage: current, previous, verified", _args_release_list,
     None),
    ("release", "build", cmd_release_build,
     "build a release of this checkout in dist/releases", _args_release_build, None),
    ("release", "verify", cmd_release_verify,
     "check a built release against its checksums", _args_release_verify, None),
    ("release", "deploy", cmd_deploy,
     "deploy a release to a stage (migrate, switch, health check, rollback)", _args_deploy,
     "deploy"),
    ("release", "rollback", cmd_rollback,
     "switch a stage back to its previous release", _stage_arg, "rollback"),
    ("release", "promote", cmd_promote,
     "deploy to TARGET the release verified on SOURCE (test→acceptance→production)",
     _args_promote, "promote"),
    ("backup", "now", cmd_backup,
     "the nightly backup job, at once", _args_backup, None),
    ("backup", "status", cmd_backup,
     "the newest snapshots and the last runs; fails if they are too old", _args_backup_json,
     None),
    ("backup", "drill", cmd_backup,
     "a backup, then a restore compared with the live database", _args_backup, None),
    ("backup", "snapshots", cmd_backup,
     "every snapshot in the offsite repository", _args_backup_json, None),
    ("backup", "restore", cmd_backup,
     "the newest (or --snapshot) dump into a new database beside the live one",
     _args_backup_restore, None),
    ("monitor", "open", cmd_monitor_open,
     "tunnel local ports to the stage's Prometheus and Alertmanager", _args_monitor_open, None),
    ("monitor", "alerts", cmd_monitor_alerts,
     "what fires in the stage's Alertmanager; fails unless only the Watchdog does",
     _args_monitor_alerts, None),
    ("report", "show", cmd_report_show,
     "the path of a verify run's report.html (in --lang)", _args_report_show, None),
    ("report", "diff", cmd_report_diff,
     "what changed between two verify runs; fails if a control got worse", _args_report_diff,
     None),
    ("report", "sign", cmd_report_sign,
     "sign a run's report.json with your SSH key (report.json.sig)", _args_report_sign, None),
    ("report", "check", cmd_report_check,
     "check a run's files against report.json and its signature", _args_report_check, None),
]
# fmt: on

NOUNS = {
    "lab": "the local lab: lab stages as containers on this machine",
    "stage": "the hosts of a stage: bootstrap, converge, verify, patch, ssh, ssh-config",
    "release": "app releases: list, build, verify here; deploy, rollback, promote on stages",
    "backup": "offsite backups of a stage: now, status, drill, snapshots, restore",
    "monitor": "Prometheus and Alertmanager of a stage: open (a tunnel), alerts",
    "report": "the auditor's reports of verify runs: show, diff, sign, check",
}

# Other spellings of a command that stay (no deprecation line, not listed in --help):
# `otap alerts STAGE` is how issue 15 names `otap monitor alerts STAGE`.
ALIASES = {"alerts": ("monitor", "alerts")}

# The old spelling → the new one, for the deprecation line (main() prints it).
OLD_SPELLINGS = {old: f"otap {noun} {verb}" for noun, verb, *_, old in COMMANDS if old}
OLD_SPELLINGS["releases"] = "otap release list STAGE"
OLD_SPELLINGS["backup STAGE ACTION"] = "otap backup ACTION STAGE"


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("safecoach")
    except metadata.PackageNotFoundError:  # a checkout without the package installed
        import tomllib

        from provisioning.stage.paths import REPO

        return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otap",
        description="Build, converge and verify the OTAP stages of safecoach; run the local lab.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"otap {_version()}", help="print otap's version"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("up", help="the main job: lab up, bootstrap, converge, deploy, verify")
    _stage_arg(p, optional=True)
    p.set_defaults(func=cmd_up)
    verbs = {}
    for noun, help_text in NOUNS.items():
        p = sub.add_parser(noun, help=help_text, epilog=SHORT_EPILOG)
        verbs[noun] = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    for noun, verb, func, help_text, add_args, old in COMMANDS:
        p = verbs[noun].add_parser(verb, help=help_text)
        add_args(p)
        p.set_defaults(func=func)
        if old:
            # no help=: the old spelling works but is not listed
            p = sub.add_parser(old, description=f"Deprecated: use `{OLD_SPELLINGS[old]}`.")
            add_args(p)
            p.set_defaults(func=func, deprecated=old)
    for alias, (noun, verb) in ALIASES.items():
        _, _, func, help_text, add_args, _ = next(c for c in COMMANDS if c[:2] == (noun, verb))
        p = sub.add_parser(alias, description=f"{help_text} (the same as `otap {noun} {verb}`).")
        add_args(p)
        p.set_defaults(func=func)
    p = sub.add_parser("releases", description="Deprecated: use `otap release list STAGE`.")
    _args_releases_old(p)
    p.set_defaults(func=cmd_release_list, deprecated="releases")
    return parser


BACKUP_VERBS = tuple(verb for noun, verb, *_ in COMMANDS if noun == "backup")
MONITOR_VERBS = tuple(verb for noun, verb, *_ in COMMANDS if noun == "monitor")


def _monitor_shorthand(argv: list[str]) -> list[str]:
    """`otap monitor [OPTIONS] STAGE …` is `otap monitor open STAGE …`."""
    if argv[:1] != ["monitor"]:
        return argv
    for word in argv[1:]:
        if word in ("-h", "--help"):
            return argv
        if not word.startswith("-"):
            return argv if word in MONITOR_VERBS else ["monitor", "open", *argv[1:]]
    return argv


def _old_backup_form(argv: list[str]) -> bool:
    """`otap backup [OPTIONS] STAGE ACTION …`, the older spelling (STAGE first)."""
    if argv[:1] != ["backup"]:
        return False
    words = iter(argv[1:])
    for word in words:
        if word in ("-h", "--help"):
            return False
        if word in ("--host", "--snapshot", "--as"):
            next(words, None)  # the option's value
        elif not word.startswith("-"):
            return word not in BACKUP_VERBS  # the first positional: a verb, or (old) a stage
    return False


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The arguments of ARGV, old spellings included (they get `deprecated`)."""
    argv = _monitor_shorthand(argv)
    if not _old_backup_form(argv):
        return parser.parse_args(argv)
    old_parser = argparse.ArgumentParser(prog="otap backup", add_help=False)
    _args_old_backup(old_parser)
    old = old_parser.parse_known_args(argv[1:])[0]
    if old.action not in BACKUP_VERBS:
        bad = old.action if old.stage in stage_names() else old.stage
        parser.error(
            f"argument VERB: invalid choice: {bad!r} (choose from {', '.join(BACKUP_VERBS)})"
        )
    rest = list(argv[1:])
    rest.remove(old.stage)
    rest.remove(old.action)
    args = parser.parse_args(["backup", old.action, old.stage, *rest])
    args.deprecated = "backup STAGE ACTION"
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, rest = argv[:at], argv[at + 1 :]
    args = parse(parser, argv)
    if rest and args.func not in TAKES_REST:
        parser.error("only `otap stage ssh` and `otap stage verify` take arguments after --")
    args.rest = rest
    old = getattr(args, "deprecated", None)
    if old:
        print(
            f"otap: `otap {old}` is deprecated and goes in the next release; use "
            f"`{OLD_SPELLINGS[old]}`.",
            file=sys.stderr,
        )
    # With --json stdout carries the JSON alone (emit() writes to args.out); the rest goes to stderr.
    args.out = sys.stdout
    json_only = getattr(args, "json", False)
    try:
        with contextlib.redirect_stdout(sys.stderr) if json_only else contextlib.nullcontext():
            stage = load_stage(args.stage) if getattr(args, "stage", None) else None
            if stage is not None and stage.lab and args.func in NEEDS_RUNNING_LAB:
                from provisioning.lab import hosts as lab

                lab.require_up(stage)
            return 0 if args.func(args, stage) == 0 else 1
    except UsageError as exc:
        print(f"otap: error: {exc}", file=sys.stderr)
        return 2
    except OtapError as exc:
        print(f"otap: error: {exc}", file=sys.stderr)
        return 1
    except RemoteFailure as exc:  # a step that did not expect this failure on a host
        print(
            f"otap: error: a command on a host of the stage failed ({exc.line}).", file=sys.stderr
        )
        return 1
    except KeyboardInterrupt:
        print("otap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
