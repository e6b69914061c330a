"""The contestants of the stream benchmark that are not leadscore itself (each runs as its own process)."""
