"""The sequence domain: each image sequence's deliverables (one asset per clip profile) and the sensor that
requests them once a sequence has settled."""
