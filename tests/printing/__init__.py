"""Tests of the printing package: labels, rendering, transports, the virtual printer."""
