"""Zoo family module (being written)."""
