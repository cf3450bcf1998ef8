"""Dagster definitions per domain.

Dagster inspects the annotations of asset and check functions at definition time, so these
modules do not use `from __future__ import annotations`.
"""
