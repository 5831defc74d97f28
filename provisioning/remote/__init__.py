"""SSH to the hosts of a stage: Fabric and pyinfra over OpenSSH, commands, health, progress."""
