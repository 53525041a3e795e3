"""Dockerfile builds: the Dockerfile model, word expansion, context, cache keys and the solver."""
