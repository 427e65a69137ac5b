"""pbxctl's own HTTP face: live status documents, Prometheus metrics, the control API."""
