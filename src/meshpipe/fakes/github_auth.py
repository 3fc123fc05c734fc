"""GitHub App JWT verification for the fake GitHub (RS256, claims checked as GitHub does).

The signature is verified with the ``cryptography`` package when it is importable, else with ``openssl dgst``.
Failures raise :class:`JwtError` carrying GitHub's message; the fake answers them with 401.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
import tempfile
import time
from typing import Any

__all__ = ["CLOCK_SKEW", "MAX_LIFETIME", "JwtError", "looks_like_jwt", "verify_jwt"]

#: GitHub accepts an ``iat`` up to this many seconds in the future (clock drift).
CLOCK_SKEW = 60
#: ``exp`` may be at most 10 minutes ahead; GitHub's own example backdates ``iat`` by 60 s, so ``exp - iat`` may
#: reach 660 s. The slack covers a slow client between signing and sending.
MAX_LIFETIME = 600
_SLACK = 30

_UNDECODABLE = "A JSON web token could not be decoded"


class JwtError(Exception):
    """A JWT GitHub would reject; the message is GitHub's."""


def looks_like_jwt(token: str) -> bool:
    """Whether a bearer credential has the shape of a JWT (three base64url segments, JSON header)."""
    return token.count(".") == 2 and token.startswith("eyJ")


def _b64decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JwtError(_UNDECODABLE) from exc


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, claims, signing input, signature) without checking anything."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError(_UNDECODABLE)
    try:
        header = json.loads(_b64decode(parts[0]))
        claims = json.loads(_b64decode(parts[1]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JwtError(_UNDECODABLE) from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JwtError(_UNDECODABLE)
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), _b64decode(parts[2])


def _verify_signature(public_key_pem: str, data: bytes, signature: bytes) -> bool:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
    except ImportError:  # pragma: no cover - the test venv has cryptography; the openssl path is tested directly
        return _verify_with_openssl(public_key_pem, data, signature)
    pem = public_key_pem.encode("ascii")
    key: Any
    if b"PRIVATE KEY" in pem:
        key = serialization.load_pem_private_key(pem, password=None).public_key()
    else:
        key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _verify_with_openssl(public_key_pem: str, data: bytes, signature: bytes) -> bool:
    """Verify an RS256 signature with the ``openssl`` command (fallback when ``cryptography`` is missing)."""
    with tempfile.TemporaryDirectory(prefix="meshpipe-jwt-") as tmp:
        key_path = os.path.join(tmp, "key.pem")
        sig_path = os.path.join(tmp, "sig.bin")
        pem = public_key_pem
        if "PRIVATE KEY" in pem:
            derived = subprocess.run(
                ["openssl", "pkey", "-pubout"], input=pem.encode(), capture_output=True, check=False, timeout=30
            )
            if derived.returncode != 0:
                return False
            pem = derived.stdout.decode()
        with open(key_path, "w", encoding="ascii") as handle:
            handle.write(pem)
        with open(sig_path, "wb") as handle:
            handle.write(signature)
        result = subprocess.run(
            ["openssl", "dgst", "-sha256", "-verify", key_path, "-signature", sig_path],
            input=data,
            capture_output=True,
            check=False,
            timeout=30,
        )
        return result.returncode == 0


def verify_jwt(token: str, keys: dict[str, str], *, now: float | None = None) -> str:
    """Verify an App JWT against ``keys`` (app id as string -> public key PEM); returns the app id.

    Raises :class:`JwtError` with GitHub's message when the token is malformed, signed with another key, or its
    ``iat``/``exp``/``iss`` claims break GitHub's rules.
    """
    now = time.time() if now is None else now
    header, claims, data, signature = decode_unverified(token)
    if header.get("alg") != "RS256":
        raise JwtError(_UNDECODABLE)
    iss = claims.get("iss")
    if isinstance(iss, bool) or not isinstance(iss, (str, int)) or str(iss) not in keys:
        raise JwtError("'Issuer' claim ('iss') must be an Integer or the Client ID of a GitHub App you own")
    iat, exp = claims.get("iat"), claims.get("exp")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        raise JwtError(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
        )
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise JwtError(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which "
            "the assertion expires"
        )
    if not _verify_signature(keys[str(iss)], data, signature):
        raise JwtError(_UNDECODABLE)
    if iat > now + CLOCK_SKEW:
        raise JwtError(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
        )
    if exp <= now:
        raise JwtError(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which "
            "the assertion expires"
        )
    if exp - now > MAX_LIFETIME + _SLACK or exp - iat > MAX_LIFETIME + CLOCK_SKEW + _SLACK:
        raise JwtError("'Expiration time' claim ('exp') is too far in the future")
    return str(iss)
