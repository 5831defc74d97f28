"""pyinfra deploy files and the inventory they run against (run by `otap bootstrap`)."""
