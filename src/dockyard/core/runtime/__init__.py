"""The runtime boundary: OCI spec building, confinement (capabilities, seccomp, namespaces,
userns), resources, and the Protocols of the OCI runtime and the per-container monitor."""
