"""Processing steps, one per file, chained: decode/validate → batch → redact → write → commit."""
