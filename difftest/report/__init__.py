"""Plain-text reports: the interleaving table and run summaries."""
