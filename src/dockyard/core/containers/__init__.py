"""Containers: the record and its states, Docker's verbs, logs, exec sessions and list filters."""
