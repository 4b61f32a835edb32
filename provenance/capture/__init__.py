"""Taking a snapshot into a case: the capture, deduplication, and reading back what a capture
holds."""
