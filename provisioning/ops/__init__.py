"""Jobs made of steps: the main job (up), converge with the lab's retry, backups."""
