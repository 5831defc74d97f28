"""otap: the hosting side of safecoach, in layers (docs/architecture.md)."""
