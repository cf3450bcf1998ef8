"""Reports built from the warehouse: the admin dashboard and its archive."""
