"""Governance assets: data-subject requests, anonymized views, retention, and the checks that prove them."""
