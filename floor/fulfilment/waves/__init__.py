"""Waves: rules, planning, batching into pick lists, release and progress."""
