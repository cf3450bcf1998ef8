"""Audit: the chain check of the warehouse's own audit trail."""
