"""Shared plumbing every package uses; imports nothing of ours."""

__version__ = "0.1.0"
