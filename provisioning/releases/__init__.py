"""App releases: build here, deploy to a stage, roll back, promote to the next stage."""
