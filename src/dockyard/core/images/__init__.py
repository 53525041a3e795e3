"""Images: references, OCI configs and manifests, the tag store and the image service."""
