"""The ``dockyard`` command line: a pure client of the Docker Engine API."""
