"""BuildKit's API as dockerd serves it (``POST /session``, ``POST /grpc``), over our builder."""
