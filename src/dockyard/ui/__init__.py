"""``dockyard ui``: a web manager for engines, a client of the Engine API like the CLI."""
