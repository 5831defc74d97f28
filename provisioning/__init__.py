"""otap: the stages of safecoach, the local lab, day-0 bootstrap, converge and verify."""
