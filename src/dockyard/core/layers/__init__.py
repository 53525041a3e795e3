"""Layers and snapshots: applying a layer tar onto a directory (whiteouts included), the
changes of an upper directory, writing those changes as a layer, and the Snapshotter Protocol."""
