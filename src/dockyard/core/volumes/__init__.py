"""Volumes: named and anonymous data directories that outlive containers (Docker's ``local`` driver)."""
