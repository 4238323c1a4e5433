"""Password hashing for trainer accounts with the standard library's scrypt.

Format: ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``; parameters are stored with the
hash so they can be raised later without invalidating existing accounts: an older
hash still verifies, and :func:`needs_rehash` tells the login to store a new one.
Parameters follow OWASP's password storage cheat sheet (scrypt N=2^17, r=8, p=1),
which needs about 128 MiB of memory per hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P, DKLEN = 2**17, 8, 1, 32
MIN_LENGTH = 10
#: Refuse stored parameters beyond these: a corrupt or planted hash must not exhaust memory.
MAX_N, MAX_R, MAX_P = 2**20, 32, 16


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # OpenSSL refuses more than 32 MiB unless told; scrypt needs 128 * r * (n + p) bytes and a little more.
    maxmem = 128 * r * (n + p) + 2**20
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=maxmem)


def hash_password(password: str) -> str:
    """Hash a password with a fresh random salt.

    Args:
        password: the plain-text password.

    Returns:
        The stored form, ``scrypt$n$r$p$salt$hash``.

    Raises:
        ValueError: the password is shorter than :data:`MIN_LENGTH` characters.
    """
    if len(password) < MIN_LENGTH:
        raise ValueError(f"use at least {MIN_LENGTH} characters")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, N, R, P, DKLEN)
    b64 = base64.b64encode
    return f"scrypt${N}${R}${P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Check a password against a stored hash in constant time; False for malformed hashes."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or int(n) > MAX_N or int(r) > MAX_R or int(p) > MAX_P:
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str) -> bool:
    """Whether a stored hash was made with other parameters than today's (then rehash at login).

    Args:
        stored: a hash from :func:`hash_password`, possibly made with older parameters.

    Returns:
        True unless ``stored`` uses exactly :data:`N`, :data:`R` and :data:`P`.
    """
    return not stored.startswith(f"scrypt${N}${R}${P}$")


#: Verified against when a user name is unknown, so timing does not reveal which names exist.
DUMMY_HASH = f"scrypt${N}${R}${P}$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
