"""The authority's signing key: RS256, kept beside the database (mode 0600) so that a
restarted server, or another process on the same database, accepts the tokens the
first one issued; published as a JWKS, as Entra ID publishes its keys."""
import base64
import hashlib
import os
import secrets
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _big_endian(number):
    return number.to_bytes((number.bit_length() + 7) // 8, "big")


def _load_or_create(path):
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")  # unique per thread too
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        try:
            os.link(temporary, path)  # fails if another process was first: then its key wins
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


class SigningKey:
    def __init__(self, folder):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._private = _load_or_create(folder / "signing-key.pem")
        self._public = self._private.public_key()
        der = self._public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = _b64url(hashlib.sha1(der).digest())  # Entra ID's kid is also its x5t, a SHA-1 thumbprint

    def sign(self, claims):
        return jwt.encode(claims, self._private, algorithm="RS256", headers={"typ": "JWT", "x5t": self.kid,
                                                                             "kid": self.kid})

    def verify(self, token):
        """The claims of a token this key signed; raises jwt.InvalidTokenError otherwise.
        Lifetime and audience are the caller's to judge (each has its own answer)."""
        if jwt.get_unverified_header(token).get("kid") != self.kid:
            raise jwt.InvalidSignatureError("signed by an unknown key")
        return jwt.decode(token, self._public, algorithms=["RS256"],
                          options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                                   "verify_aud": False})

    def jwks(self, issuer):
        numbers = self._public.public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid, "issuer": issuer,
                          "n": _b64url(_big_endian(numbers.n)), "e": _b64url(_big_endian(numbers.e))}]}
