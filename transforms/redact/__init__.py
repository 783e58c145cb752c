"""Redaction of personal data and secrets (``shared/contract/redaction.md``)."""
