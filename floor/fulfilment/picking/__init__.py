"""Picking: tasks on the handheld, scan verification, short picks, re-routing, cancellation."""
