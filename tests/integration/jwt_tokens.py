"""JWT keys and tokens for the admission integration tests (docs/admission.md).

Keys are made with the `openssl` CLI in a temp dir the caller owns; tokens are signed here:
HS256/384/512 with hashlib/hmac, RS256 and ES256 with python3-cryptography (Debian package,
installed by deploy/install-deps.sh). Nothing here talks to the network.

    keys = Keys(tmpdir)
    secret_path = keys.hmac_secret("s1")             # 64 random bytes + "\n" (the server strips it)
    rsa_pub = keys.rsa("r1")                          # -> KeyPair(private_pem, public_path)
    ec_pub = keys.ec("e1")
    tok = sign_hs(keys.secret("s1"), {"sub": "alice", "exp": now + 60}, alg="HS256")
    tok = sign_rs256(keys.private("r1"), claims)
    tok = sign_es256(keys.private("e1"), claims)
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import time

_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64url(data):
    """base64url without padding (RFC 7515 section 2)."""
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segments(header, claims):
    h = b64url(json.dumps(header, separators=(",", ":")))
    c = b64url(json.dumps(claims, separators=(",", ":")))
    return f"{h}.{c}"


def sign_hs(secret, claims, alg="HS256", header_extra=None):
    """An HMAC JWT; `secret` is bytes (exactly what the server holds after stripping)."""
    header = {"alg": alg, "typ": "JWT"}
    header.update(header_extra or {})
    signing_input = _segments(header, claims)
    mac = hmac.new(secret, signing_input.encode(), _HASHES[alg]).digest()
    return f"{signing_input}.{b64url(mac)}"


def unsigned(claims, alg="none"):
    """`alg: none` (any spelling) with an empty signature: must always be refused."""
    return _segments({"alg": alg, "typ": "JWT"}, claims) + "."


def _crypto():
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
    except ImportError as e:  # a declared dependency: a failure, not a skip
        raise AssertionError(f"python3-cryptography is not importable ({e}); deploy/install-deps.sh installs it")
    return hashes, serialization, ec, padding, utils


def sign_rs256(private_pem, claims, header_extra=None):
    hashes, serialization, _, padding, _ = _crypto()
    key = serialization.load_pem_private_key(private_pem, password=None)
    header = {"alg": "RS256", "typ": "JWT"}
    header.update(header_extra or {})
    signing_input = _segments(header, claims)
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(sig)}"


def sign_es256(private_pem, claims, der=False):
    """ES256 with the JWS signature form: raw r||s, 32 bytes each. der=True sends the DER form
    instead (which JWS does not allow: the server must refuse it)."""
    hashes, serialization, ec, _, utils = _crypto()
    key = serialization.load_pem_private_key(private_pem, password=None)
    signing_input = _segments({"alg": "ES256", "typ": "JWT"}, claims)
    sig_der = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    if der:
        return f"{signing_input}.{b64url(sig_der)}"
    r, s = utils.decode_dss_signature(sig_der)
    return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def claims(sub="tester", publish=None, ttl_s=300, now=None, **extra):
    """Typical claims: sub, iat, exp = now + ttl_s (None: no exp), the ringcast role claim when
    publish is not None, plus any extra claims (aud, iss, nbf...)."""
    now = int(time.time()) if now is None else now
    c = {"sub": sub, "iat": now}
    if ttl_s is not None:
        c["exp"] = now + ttl_s
    if publish is not None:
        c["ringcast"] = {"publish": publish}
    c.update(extra)
    return c


def subprotocols_for(token):
    """What a browser offers: the `ringcast` protocol and the token entry (docs/admission.md)."""
    return ["ringcast", "base64url.bearer.ringcast." + b64url(token)]


class Keys:
    """Key files in `directory` (the caller's temp dir), made with the openssl CLI."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self._secrets = {}
        self._private = {}
        self.public_paths = {}

    def _openssl(self, *args):
        r = subprocess.run(["openssl"] + list(args), capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise AssertionError(f"openssl {' '.join(args)} failed ({r.returncode}): {r.stderr[:500]!r}")
        return r.stdout

    def hmac_secret(self, name, nbytes=64, newline=True, path=None):
        """A random secret written to a file (with one final newline, which the server strips).
        Returns the file's path; secret(name) gives the bytes the server uses."""
        secret = b64url(os.urandom(nbytes))[:nbytes].encode()  # printable, as an operator would make one
        path = path or os.path.join(self.dir, f"{name}.secret")
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(secret + (b"\n" if newline else b""))
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)  # atomically: a reload never reads half a file
        self._secrets[name] = secret
        self.public_paths[name] = path
        return path

    def secret(self, name):
        return self._secrets[name]

    def rsa(self, name, bits=2048):
        priv = os.path.join(self.dir, f"{name}.key")
        pub = os.path.join(self.dir, f"{name}.pub.pem")
        self._openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}", "-out", priv)
        self._openssl("pkey", "-in", priv, "-pubout", "-out", pub)
        with open(priv, "rb") as f:
            self._private[name] = f.read()
        self.public_paths[name] = pub
        return pub

    def ec(self, name, curve="P-256"):
        priv = os.path.join(self.dir, f"{name}.key")
        pub = os.path.join(self.dir, f"{name}.pub.pem")
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}", "-out", priv)
        self._openssl("pkey", "-in", priv, "-pubout", "-out", pub)
        with open(priv, "rb") as f:
            self._private[name] = f.read()
        self.public_paths[name] = pub
        return pub

    def private(self, name):
        return self._private[name]

    def public_pem(self, name):
        with open(self.public_paths[name], "rb") as f:
            return f.read()
