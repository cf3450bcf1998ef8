"""Deterministic opaque ids: a type prefix and a zero-padded sequence number (well under 64 chars)."""

from __future__ import annotations

import polars as pl

# prefix, digits. Widths leave room for the 10x scale target (10M events, 10k coaches).
USER = ("usr_", 6)
CLIENT = ("cli_", 7)
PROFILE = ("cpf_", 6)
SESSION = ("ses_", 9)
ATTEMPT = ("att_", 9)
EVENT = ("evt_", 10)
USER_CHANGE = ("uch_", 8)
CLIENT_CHANGE = ("cch_", 8)
PROFILE_CHANGE = ("pch_", 8)
GDPR_REQUEST = ("dsr_", 6)
AUDIT_EVENT = ("aud_", 9)


def make_id(kind: tuple[str, int], number: int) -> str:
    """The id of the `number`-th (1-based) entity of `kind`."""
    prefix, width = kind
    return f"{prefix}{number:0{width}d}"


def id_expr(column: str, kind: tuple[str, int]) -> pl.Expr:
    """Vectorized `make_id` over an integer column; nulls stay null."""
    prefix, width = kind
    return pl.concat_str([pl.lit(prefix), pl.col(column).cast(pl.String).str.zfill(width)])


class Counter:
    """Hands out the next sequence numbers of one id kind across months."""

    def __init__(self) -> None:
        self.last = 0

    def take(self, n: int) -> range:
        start = self.last + 1
        self.last += n
        return range(start, start + n)

    def next(self) -> int:
        self.last += 1
        return self.last
