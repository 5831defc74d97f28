"""pyinfra deploy files and the one inventory they run against (provisioning/remote/pyinfra.py)."""
