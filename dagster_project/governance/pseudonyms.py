"""Keyed pseudonyms: HMAC-SHA256 of an id under a secret that is never stored in the warehouse.

The secret comes from COACHWH_PSEUDONYM_KEY. Outside production a missing key is created once in
COACHWH_HOME/secrets/ (outside every DuckDB file) with a warning, so the demo works; in production
(COACHWH_ENV=prod) a missing key is an error: a default key would make pseudonyms reversible by
anyone who knows the default.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets

from dagster_project.config import Settings
from dagster_project.errors import CoachwhError

log = logging.getLogger(__name__)

KEY_FILE_NAME = "pseudonym.key"
_BLOCK = 64  # SHA-256's block size, for HMAC's inner and outer pads


def load_key(settings: Settings) -> bytes:
    """The pseudonym secret as bytes (see the module docstring for where it comes from)."""
    text = os.environ.get("COACHWH_PSEUDONYM_KEY", "").strip()
    if text:
        return text.encode("utf-8")
    if settings.is_production:
        raise CoachwhError(
            "COACHWH_PSEUDONYM_KEY is not set and COACHWH_ENV=prod: set it to the production secret "
            "(a long random string kept outside the warehouse); anonymized views are not built without it"
        )
    path = settings.secrets_dir / KEY_FILE_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
        path.chmod(0o600)
        log.warning(
            "COACHWH_PSEUDONYM_KEY is not set: created a local key in %s for this non-production warehouse; "
            "set COACHWH_PSEUDONYM_KEY in production", path
        )
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def key_fingerprint(key: bytes) -> str:
    """A value that tells whether the key changed without revealing it (stored with the pseudonyms)."""
    return hmac.new(key, b"coachwh:key-fingerprint", hashlib.sha256).hexdigest()[:16]


def pseudonym(key: bytes, kind: str, value: str) -> str:
    """The pseudonym of one id of one kind (`user`, `client`, `session`, ...): hex HMAC-SHA256."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's outer and inner keys, for computing pseudonyms in SQL with bound parameters.

    The key itself is never part of a SQL text, so it cannot end up in a view definition or a log.
    """
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x5C for b in padded), bytes(b ^ 0x36 for b in padded)


def sql_pseudonym(id_expr: str, kind: str) -> str:
    """SQL for the pseudonym of `id_expr`; binds two BLOB parameters, `hmac_pads(key)` in order.

    Equal to `pseudonym(key, kind, id)`: sha256(opad || sha256(ipad || kind:id)).
    """
    return (
        f"sha256($opad::blob || unhex(sha256($ipad::blob || encode('{kind}:' || ({id_expr})::varchar))))"
    )
