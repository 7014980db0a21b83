"""The physical floor (site/) and the work done on it (fulfilment/)."""
