"""Reporting assets: archives of closed billing months and the dashboard."""
