"""Packing: the pack station, packages, shipping and the carrier interface it owns."""
