"""A stage: its inventory, hosts and groups, and every path of its state folder."""

from provisioning.stage.errors import OtapError, UsageError
from provisioning.stage.inventory import GROUPS, Host, Stage, load_stage, stage_names

__all__ = ["GROUPS", "Host", "OtapError", "Stage", "UsageError", "load_stage", "stage_names"]
