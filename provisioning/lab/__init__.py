"""The local lab: lab stages as systemd-nspawn containers on this machine."""
