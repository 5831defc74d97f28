"""What a host will do, read the same way by every suite (and kept as evidence)."""


def timer_facts(host, timer: str) -> dict:
    """A timer's state as systemd has it: enabled, active, its next and its last run."""
    out = host.check_output(
        f"systemctl show {timer} -p UnitFileState -p ActiveState "
        "-p NextElapseUSecRealtime -p LastTriggerUSec"
    )
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {
        "enabled": props.get("UnitFileState"),
        "active": props.get("ActiveState"),
        "next": props.get("NextElapseUSecRealtime") or None,
        "last": props.get("LastTriggerUSec") or None,
    }
