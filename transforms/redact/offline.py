"""Keep redaction off the network.

tldextract (pulled in by Presidio's stock e-mail recognizer) fetches the
public-suffix list from GitHub on first use and waits on DNS when offline.
tracelake's own recognizers do not use it; this swaps the module-level
extractor for one that only reads the snapshot bundled with the package, so
nothing that still imports it can open a socket either.
"""

from __future__ import annotations


def use_bundled_suffix_list() -> None:
    """Idempotent. Safe to call before or after Presidio is imported."""
    import tldextract
    import tldextract.tldextract as module

    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)
    module.TLD_EXTRACTOR = offline
    # The module-level ``extract`` function is replaced by the offline extractor (callable the same way).
    setattr(module, "extract", offline)  # noqa: B010 - a typed assignment would not accept the swap
    setattr(tldextract, "extract", offline)  # noqa: B010
