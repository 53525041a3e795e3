"""Plugins: every out-of-process driver (volume, network, IPAM, authz, log) is found by name here."""
