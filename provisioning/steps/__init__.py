"""The steps that make a stage: bootstrap, converge, verify, patch. Each takes a Stage."""
