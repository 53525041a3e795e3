"""Swarm mode on one engine: the cluster, its node, services, tasks, secrets and configs."""
