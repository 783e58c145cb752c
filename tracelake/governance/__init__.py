"""Governance of the lake: retention by risk class, erasure of one person, a signed, tamper-evident chain of
commits and per-run evidence bundles (docs/governance.md)."""
