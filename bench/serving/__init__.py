"""Serving-mode experiments (docs/serving-notes.md): an echo app, a slowloris, a driver."""
