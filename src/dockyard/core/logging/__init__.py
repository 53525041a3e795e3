"""Logging drivers: the LogDriver Protocol, one registry by name, the per-container shipper that
copies conmon's spool to the chosen driver, and the readers behind ``docker logs``."""
