"""The warehouse's own audit trail: append-only, hash-chained records of every data operation."""
