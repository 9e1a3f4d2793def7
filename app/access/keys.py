"""API key secrets: made from 256 random bits, shown once, stored and looked up as their SHA-256."""

import hashlib
import secrets

PREFIX = "fj_"  # says what a leaked string is (secret scanners match it) and lets a typo fail fast


def new_secret() -> str:
    """A new key, as the client sends it."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """What the database stores: a fast hash suffices, as the secret has 256 bits of entropy (no guessing)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_key(secret: str) -> bool:
    return secret.startswith(PREFIX) and 20 <= len(secret) <= 200
