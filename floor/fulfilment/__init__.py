"""Turning orders into walks, picks and parcels: waves, picking, packing. Sits above orders/."""
