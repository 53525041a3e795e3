"""Distribution: pull and push as copies between a registry and the local image store."""
