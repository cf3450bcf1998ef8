"""Governance: pseudonyms, data-subject requests (erasure, access, portability) and retention."""
