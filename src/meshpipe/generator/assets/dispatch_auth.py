"""The dispatcher's credentials: which kind to use, the token, and GitHub App installation tokens from an RS256
JWT (signed with ``cryptography`` when importable, else with a small DER reader and CRT signing).

Part of the bundled dispatcher (see ``dispatch.py``); hashing is imported only when an App JWT is signed.
"""

from __future__ import annotations

import json
import os

from dispatch_base import ApiError, ConfigError, add_secret, check_token
from dispatch_github import _q, app_token_hint

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from dispatch import Config
    from dispatch_github import GitHubClient


def _b64url(data: bytes) -> str:
    import binascii

    encoded = binascii.b2a_base64(data, newline=False).rstrip(b"=")
    return encoded.replace(b"+", b"-").replace(b"/", b"_").decode("ascii")


def jwt_claims(app_id: str, now: float) -> dict[str, Any]:
    """GitHub App JWT claims: issued 60 s in the past against clock drift, expiring in 9 minutes (limit 10)."""
    issuer: Any = int(app_id) if app_id.isdigit() else app_id
    return {"iat": int(now) - 60, "exp": int(now) + 540, "iss": issuer}


def load_private_key(value: str) -> bytes:
    """The App private key from PEM text (literal ``\\n`` allowed) or from the path of a PEM file."""
    text = value.strip()
    if "-----BEGIN" not in text and os.path.isfile(text):
        try:
            with open(text, "rb") as handle:
                text = handle.read().decode("utf-8", "replace").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the GitHub App private key file: {exc.strerror}") from None
    if "-----BEGIN" not in text:
        raise ConfigError("the GitHub App private key is neither PEM text nor the path of a readable PEM file")
    return (text.replace("\\n", "\n").strip() + "\n").encode("ascii", "replace")


# SHA-256's DigestInfo prefix for EMSA-PKCS1-v1_5 (RFC 8017, section 9.2, note 1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
RSA_ENCRYPTION_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1


def _der_items(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """The DER elements between ``start`` and ``end``, each as (tag, content start, content end)."""
    items = []
    while start < end:
        if start + 2 > end:
            raise ValueError("truncated DER")
        tag, length, start = data[start], data[start + 1], start + 2
        if length & 0x80:
            size = length & 0x7F
            if not 0 < size <= 4 or start + size > end:
                raise ValueError("bad DER length")
            length, start = int.from_bytes(data[start : start + size], "big"), start + size
        if start + length > end:
            raise ValueError("truncated DER")
        items.append((tag, start, start + length))
        start += length
    return items


def _der_sequence(data: bytes, item: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    if item[0] != 0x30:
        raise ValueError("expected a DER SEQUENCE")
    return _der_items(data, item[1], item[2])


def rsa_numbers(pem: bytes) -> list[int]:
    """``[n, e, d, p, q, dP, dQ, qInv]`` of an unencrypted RSA key in PKCS#1 or PKCS#8 PEM form."""
    import binascii

    text = pem.decode("ascii", "replace")
    begin = text.find("-----BEGIN ") + 11
    label = text[begin : text.find("-----", begin)]
    if "ENCRYPTED" in label or "Proc-Type: 4,ENCRYPTED" in text:
        raise ConfigError("the GitHub App private key is encrypted; use an unencrypted PKCS#1 or PKCS#8 key")
    if label not in ("RSA PRIVATE KEY", "PRIVATE KEY"):
        raise ConfigError(f"the GitHub App private key is a {label[:30]!r} PEM, not an RSA private key")
    body = "".join(line for line in text.splitlines() if line and not line.startswith("-----"))
    try:
        der = binascii.a2b_base64(body.encode("ascii", "replace"))
        (top,) = _der_items(der, 0, len(der))
        items = _der_sequence(der, top)
        if label == "PRIVATE KEY":  # PKCS#8 PrivateKeyInfo: version, AlgorithmIdentifier, privateKey OCTET STRING
            oid = _der_sequence(der, items[1])[0]
            if oid[0] != 0x06 or der[oid[1] : oid[2]] != RSA_ENCRYPTION_OID:
                raise ConfigError("the GitHub App private key is not an RSA key")
            if items[2][0] != 0x04:
                raise ValueError("expected an OCTET STRING")
            (top,) = _der_items(der, items[2][1], items[2][2])
            items = _der_sequence(der, top)
        numbers = [int.from_bytes(der[start:end], "big") for tag, start, end in items[1:9] if tag == 0x02]
        if len(numbers) != 8 or der[items[0][1] : items[0][2]] != b"\x00":
            raise ValueError("not a two-prime RSAPrivateKey")
    except (ValueError, IndexError, binascii.Error):
        raise ConfigError("the GitHub App private key cannot be parsed (expected an RSA key in PEM form)") from None
    return numbers


def sign_rs256_stdlib(pem: bytes, data: bytes) -> bytes:
    """RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017, 8.2.1) with the standard library, using the CRT parameters."""
    import hashlib

    n, e, _, p, q, dp, dq, qinv = rsa_numbers(pem)
    size = (n.bit_length() + 7) // 8
    digest_info = SHA256_DIGEST_INFO + hashlib.sha256(data).digest()
    if size < len(digest_info) + 11:
        raise ConfigError("the GitHub App private key is too short for RS256")
    encoded = b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info
    message = int.from_bytes(encoded, "big")
    s1, s2 = pow(message, dp, p), pow(message, dq, q)
    signature = s2 + ((qinv * (s1 - s2)) % p) * q
    # Check before use: a key with inconsistent parameters would otherwise send a signature that leaks a factor.
    if pow(signature, e, n) != message:
        raise ConfigError("the GitHub App private key is inconsistent (its RSA parameters do not match)")
    return signature.to_bytes(size, "big")


def sign_rs256(pem: bytes, data: bytes, environ: Mapping[str, str]) -> bytes:
    """RS256 signature with ``cryptography`` when importable, else with the standard library.

    ``MESHPIPE_DISPATCH_NO_CRYPTOGRAPHY=1`` forces the standard library path (the runner image cannot rely on
    ``cryptography``). Both paths refuse encrypted, non-RSA and unparsable keys with the same line.
    """
    if environ.get("MESHPIPE_DISPATCH_NO_CRYPTOGRAPHY") != "1":
        try:
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding, rsa
        except ImportError:
            pass
        else:
            rsa_numbers(pem)  # the same checks and messages as the standard library path
            try:
                key = serialization.load_pem_private_key(pem, password=None)
            except (ValueError, TypeError):
                raise ConfigError(
                    "the GitHub App private key cannot be parsed (expected an RSA key in PEM form)"
                ) from None
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ConfigError("the GitHub App private key is not an RSA key")
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return sign_rs256_stdlib(pem, data)


def make_jwt(app_id: str, pem: bytes, now: float, environ: Mapping[str, str]) -> str:
    """An RS256 JWT for the GitHub App."""
    header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = _b64url(json.dumps(jwt_claims(app_id, now), separators=(",", ":")).encode())
    signing_input = f"{header}.{claims}".encode("ascii")
    return f"{header}.{claims}.{_b64url(sign_rs256(pem, signing_input, environ))}"


def choose_auth(config: Config, environ: Mapping[str, str]) -> str:
    """``token`` or ``app`` from the auth mode and which variables are set; names what is missing otherwise."""
    auth = config.settings.auth
    app_vars = [auth["app_id_env"], auth["installation_id_env"], auth["private_key_env"]]
    has_token = bool(environ.get(auth["token_env"]))
    if auth["mode"] == "token" or (auth["mode"] == "auto" and has_token):
        if not has_token:
            raise ConfigError(f"no GitHub token: set the environment variable {auth['token_env']}")
        return "token"
    missing = [name for name in app_vars if not environ.get(name)]
    if missing and auth["mode"] == "auto" and len(missing) == len(app_vars):
        raise ConfigError(
            f"no GitHub credentials: set {auth['token_env']}, or {', '.join(app_vars[:-1])} and {app_vars[-1]}"
        )
    if missing:
        raise ConfigError(f"GitHub App credentials incomplete: set {', '.join(missing)}")
    return "app"


def resolve_token(config: Config, environ: Mapping[str, str], client: GitHubClient, auth_kind: str) -> str:
    """The bearer token: from the token variable, or an installation token of the GitHub App."""
    auth = config.settings.auth
    if auth_kind == "token":
        add_secret(environ[auth["token_env"]])
        return check_token(environ[auth["token_env"]], auth["token_env"])
    app_id = check_token(environ[auth["app_id_env"]], auth["app_id_env"])
    installation = check_token(environ[auth["installation_id_env"]], auth["installation_id_env"])
    key_value = environ[auth["private_key_env"]]
    add_secret(key_value)
    pem = load_private_key(key_value)
    add_secret(pem.decode("ascii", "replace").strip())
    jwt = make_jwt(app_id, pem, client.clock.wall(), environ)
    add_secret(jwt)
    url = f"{config.settings.api_url}/app/installations/{_q(installation)}/access_tokens"
    # Creating an installation token has no side effect worth guarding: it is repeated like a GET.
    response = client.call("POST", url, token=jwt, hint=app_token_hint)
    data = response.json()
    issued = data.get("token") if isinstance(data, dict) else None
    if not isinstance(issued, str) or not issued:
        raise ApiError("POST", url, response.status, "no token in the response")
    add_secret(issued)
    return check_token(issued, f"the installation token from POST {url}")
