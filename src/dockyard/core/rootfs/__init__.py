"""The one way the daemon touches files it does not own: containers' rootfs, volumes, binds,
snapshots being unpacked, build contexts. Every path is resolved from a descriptor of the tree's
top with ``openat2(RESOLVE_IN_ROOT)`` (:mod:`.root`), read by pinned descriptors (:mod:`.tree`) and
written with ``*at`` calls (:mod:`.unpack`); a container's view with its mounts is :mod:`.view`."""
