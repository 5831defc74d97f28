"""otap: stages, the local lab, day-0 bootstrap, converge and verify.

Every command has --help. Expected failures print one sentence on stderr and exit 1;
argument errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from provisioning.remote.progress import say
from provisioning.stage import OtapError, Stage, load_stage, sshconfig

DEFAULT_STAGE = "development"


def _stage_arg(parser: argparse.ArgumentParser, optional: bool = False) -> None:
    if optional:
        parser.add_argument(
            "stage", nargs="?", default=DEFAULT_STAGE, help=f"stage name (default {DEFAULT_STAGE})"
        )
    else:
        parser.add_argument("stage", help="stage name: development, test, acceptance, production")


# Every command is a function (args, stage): `stage` is the Stage that main() loaded once from
# the command's STAGE argument (None for commands without one).


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

    info = lab.status(stage)
    print(json.dumps(info, indent=2) if args.json else lab.format_status(info))
    return 0


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
        raise OtapError(
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
    return 0 if result.ok else 1


def cmd_verify(args, stage: Stage) -> int:
    from provisioning.steps.verify import verify

    return verify(stage, extra=args.rest, limit=args.limit)


def cmd_release_build(args, stage: None) -> int:
    from provisioning.releases import build

    build.build(allow_dirty=args.allow_dirty)
    return 0


def cmd_release_list(args, stage: None) -> int:
    from provisioning.releases import build

    built = build.list_built()
    if not built:
        print(f"no release built yet in {build.releases_root()}")
    for manifest in built:
        print(
            f"{manifest['release']:<28} built {manifest['built_at']}  commit {manifest['commit']}"
        )
    return 0


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


def cmd_releases(args, stage: Stage) -> int:
    from provisioning.releases import record

    return record.show(stage)


def cmd_promote(args, stage: None) -> int:
    from provisioning.releases.promote import promote

    return promote(args.source, args.target, args.release)


def cmd_backup(args, stage: Stage) -> int:
    from provisioning.ops.backup import backup

    return backup(
        stage,
        args.action,
        host=args.host,
        snapshot=args.snapshot,
        name=args.name,
        replace=args.replace,
    )


def cmd_patch(args, stage: Stage) -> int:
    from provisioning.steps.patch import patch

    return patch(
        stage, soak_days=args.soak_days, only_soaked=args.only_soaked, dry_run=args.dry_run
    )


def cmd_up(args, stage: Stage) -> int:
    from provisioning.ops.up import up

    return up(stage)


# Steps that work on the hosts of a stage: on a lab stage they need every host running.
NEEDS_RUNNING_LAB = (cmd_bootstrap, cmd_converge, cmd_verify, cmd_patch)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otap",
        description="Build, converge and verify the OTAP stages of safecoach; run the local lab.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    lab = sub.add_parser("lab", help="the local lab: lab stages as containers on this machine")
    lab_sub = lab.add_subparsers(dest="lab_command", metavar="LAB_COMMAND", required=True)
    p = lab_sub.add_parser("up", help="bring a lab stage up (idempotent)")
    _stage_arg(p, optional=True)
    p.set_defaults(func=cmd_lab_up)
    p = lab_sub.add_parser("down", help="remove every container, mount, namespace and link")
    _stage_arg(p, optional=True)
    p.set_defaults(func=cmd_lab_down)
    p = lab_sub.add_parser("status", help="hosts, groups, addresses and state of a lab stage")
    _stage_arg(p, optional=True)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_lab_status)
    p = lab_sub.add_parser("console", help="a root shell inside a lab host, without SSH")
    p.add_argument("host", help="host name, for example web1")
    p.add_argument("--stage", default=DEFAULT_STAGE, help=f"lab stage (default {DEFAULT_STAGE})")
    p.set_defaults(func=cmd_lab_console)

    p = sub.add_parser(
        "ssh-config", help="write the stage's OpenSSH config (ProxyJump, pinned keys)"
    )
    _stage_arg(p)
    p.add_argument("--print", action="store_true", help="print the config instead of its path")
    p.set_defaults(func=cmd_ssh_config)

    p = sub.add_parser("ssh", help="ssh to a host of a stage through its bastion")
    _stage_arg(p)
    p.add_argument("host", help="host name, for example web1")
    p.epilog = "Anything after -- is the command to run on the host: otap ssh test web1 -- uptime"
    p.set_defaults(func=cmd_ssh)

    p = sub.add_parser("bootstrap", help="day 0 with pyinfra: admins, sudo, hostname, hosts, apt")
    _stage_arg(p)
    p.add_argument(
        "--accept-new-host-keys",
        action="store_true",
        help="real stages: pin host keys seen for the first time (compare fingerprints!)",
    )
    p.set_defaults(func=cmd_bootstrap)

    p = sub.add_parser("converge", help="ansible-playbook -i inventories/STAGE site.yml")
    _stage_arg(p)
    p.add_argument("--check", action="store_true", help="dry run (ansible --check --diff)")
    p.add_argument("--tags", help="only tasks with these tags (comma-separated)")
    p.add_argument("--limit", help="only these hosts or groups")
    p.set_defaults(func=cmd_converge)

    p = sub.add_parser("verify", help="run the testinfra suites (tests/infra) against a stage")
    _stage_arg(p)
    p.add_argument("--limit", help="only these hosts or groups (comma-separated)")
    p.epilog = (
        "Anything after -- goes to pytest: otap verify development -- -k journal; suites named "
        "there (tests/infra/test_ssh.py) replace the whole folder"
    )
    p.set_defaults(func=cmd_verify)

    release = sub.add_parser("release", help="app releases: wheel, wheelhouse, static, checksums")
    release_sub = release.add_subparsers(
        dest="release_command", metavar="RELEASE_COMMAND", required=True
    )
    p = release_sub.add_parser("build", help="build a release of this checkout in dist/releases")
    p.add_argument(
        "--allow-dirty",
        action="store_true",
        help="build with uncommitted changes (named …dirty; refused by real stages)",
    )
    p.set_defaults(func=cmd_release_build)
    p = release_sub.add_parser("list", help="releases built on this machine")
    p.set_defaults(func=cmd_release_list)
    p = release_sub.add_parser("verify", help="check a built release against its checksums")
    p.add_argument("release", nargs="?", help="release id, VERSION-COMMIT (default: newest)")
    p.set_defaults(func=cmd_release_verify)

    p = sub.add_parser(
        "deploy", help="deploy a release to a stage (migrate, switch, health check, rollback)"
    )
    _stage_arg(p)
    p.add_argument("release", nargs="?", help="release id, VERSION-COMMIT (default: newest built)")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("rollback", help="switch a stage back to its previous release")
    _stage_arg(p)
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("releases", help="releases on a stage: current, previous, verified")
    _stage_arg(p)
    p.set_defaults(func=cmd_releases)

    p = sub.add_parser(
        "promote",
        help="deploy to TARGET the release verified on SOURCE (test→acceptance→production)",
    )
    p.add_argument("source", help="stage the release was verified on")
    p.add_argument("target", help="the next stage")
    p.add_argument("release", nargs="?", help="release id (default: the one current on SOURCE)")
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser(
        "backup", help="offsite backups of a stage: now, status, drill, snapshots, restore"
    )
    _stage_arg(p)
    p.add_argument("action", metavar="ACTION", help="now, status, drill, snapshots or restore")
    p.add_argument("--host", help="only this backup client (default: every host of group db)")
    p.add_argument("--snapshot", help="restore: this snapshot id (default: the newest)")
    p.add_argument(
        "--as",
        dest="name",
        help="restore: the new database's name (default safecoach_restore_<time>)",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="restore: then make the restored copy the app's database (the old one is kept aside)",
    )
    p.epilog = (
        "now: the nightly job at once; drill: a backup, then a restore compared with the live "
        "database; restore: into a new database beside the live one, --replace to switch to it."
    )
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser(
        "patch", help="OS updates: test first; later stages only what has soaked on test"
    )
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
    p.set_defaults(func=cmd_patch)

    p = sub.add_parser("up", help="the main job: lab up, bootstrap, converge, verify")
    _stage_arg(p, optional=True)
    p.set_defaults(func=cmd_up)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, rest = argv[:at], argv[at + 1 :]
    args = parser.parse_args(argv)
    if rest and args.func not in (cmd_ssh, cmd_verify):
        parser.error("only `otap ssh` and `otap verify` take arguments after --")
    args.rest = rest
    try:
        stage = load_stage(args.stage) if getattr(args, "stage", None) else None
        if stage is not None and stage.lab and args.func in NEEDS_RUNNING_LAB:
            from provisioning.lab import hosts as lab

            lab.require_up(stage)
        return args.func(args, stage)
    except OtapError as exc:
        print(f"otap: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("otap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
