"""RSA key pairs of our actors: generation, PEM, and the seam to where they are kept.

Every fediverse server still verifies ``rsa-sha256`` (RSASSA-PKCS1-v1_5 with SHA-256), so our
actors sign with 2048-bit RSA keys. A key is made once per actor and kept in the database
(``store/ap_keys.py``): a new key at each start would break every follower's cached copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from ..errors import UnknownKeyError
from .signatures import PublicKey

KEY_BITS = 2048


@dataclass(frozen=True)
class KeyPair:
    """PEM texts: PKCS#8 private key, SubjectPublicKeyInfo public key (what actors publish)."""

    private_pem: str
    public_pem: str

    def private_key(self) -> rsa.RSAPrivateKey:
        return load_private_key(self.private_pem)


def generate_keypair(bits: int = KEY_BITS) -> KeyPair:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return KeyPair(private_pem=private_pem(private), public_pem=public_pem(private.public_key()))


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def load_public_key(pem: str) -> PublicKey:
    """An RSA or Ed25519 public key from PEM (SPKI or PKCS#1); raises UnknownKeyError."""
    data = pem.strip().encode("ascii", "replace")
    try:
        key = serialization.load_pem_public_key(data)  # SPKI and PKCS#1 ("RSA PUBLIC KEY")
    except (ValueError, TypeError) as exc:
        raise UnknownKeyError(f"unreadable public key: {exc}") from exc
    if isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        return key
    raise UnknownKeyError(f"unsupported public key type {type(key).__name__}")


class KeyStore(Protocol):
    """Where our actors' key pairs live (``Store.ap_keys``)."""

    def get_or_create(self, actor: str, create: Callable[[], tuple[str, str]]) -> tuple[str, str]:
        """``(private_pem, public_pem)`` of ``actor``, made with ``create`` and kept when missing.

        Two processes racing on a new actor must end with the same pair.
        """
        ...


def actor_keypair(store: KeyStore, actor: str, *, bits: int = KEY_BITS) -> KeyPair:
    """The key pair of ``actor``, generated and kept on first use."""

    def create() -> tuple[str, str]:
        pair = generate_keypair(bits)
        return pair.private_pem, pair.public_pem

    private, public = store.get_or_create(actor, create)
    return KeyPair(private_pem=private, public_pem=public)
