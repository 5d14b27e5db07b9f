import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# In a fresh process, as a worker imports it: PyJWT without cryptography. Forged
# tokens are refused exactly as by the suite's PyJWT (tests/security/
# test_forged_tokens.py); then an EdDSA app gives PyJWT its asymmetric algorithms
# while the HMAC app keeps working, and no PyJWT module keeps a stale name.
SCRIPT = """
import base64, hashlib, hmac, json, sys
from bookstore import create_app
from bookstore.extensions import db
from bookstore.security import keys
from bookstore.security.jwtlib import jwt
# The attacker's tool, after PyJWT: it does not make PyJWT load its algorithms.
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

report = {"hidden": not jwt.algorithms.has_crypto}
ME, USER = "/api/v1/users/me", {"username": "alice", "password": "correct horse 1"}


def app_and_token(**config):
    app = create_app("testing", **config)
    with app.app_context():
        db.create_all()
        key = keys.keyring().current
    client = app.test_client()
    client.post("/api/v1/auth/register", json=USER)
    token = client.post("/api/v1/auth/login", json=USER).json["access_token"]
    return client, token, key


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(header, claims, sign):
    body = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{body}.{b64(sign(body.encode()))}"


def status(client, token):
    return client.get(ME, headers={"Authorization": f"Bearer {token}"}).status_code


client, token, key = app_and_token()
claims = jwt.decode(token, options={"verify_signature": False})
secret = key.sign_key.encode()
attacker = ed25519.Ed25519PrivateKey.generate()
public_pem = attacker.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
forged = {
    "HS256 (control)": lambda b: hmac.new(secret, b, hashlib.sha256).digest(),
    "none": lambda b: b"",
    "HS512": lambda b: hmac.new(secret, b, hashlib.sha512).digest(),
    "RS256": lambda b: hmac.new(secret, b, hashlib.sha256).digest(),
    "EdDSA": attacker.sign,
    "HS256 keyed with a public key": lambda b: hmac.new(public_pem, b, "sha256")
    .digest(),
}


def forgeries():
    return {
        name: status(client, signed(
            {"alg": name.split()[0], "typ": "JWT", "kid": key.kid}, claims, sign
        ))
        for name, sign in forged.items()
    }


report["hmac"] = {"genuine": status(client, token), **forgeries()}
report["hidden after"] = not jwt.algorithms.has_crypto

with open(sys.argv[1], "wb") as f:
    f.write(attacker.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
eddsa, eddsa_token, _ = app_and_token(
    JWT_ALGORITHM="EdDSA", JWT_PRIVATE_KEY_FILE=sys.argv[1]
)
report["eddsa"] = {
    "genuine": status(eddsa, eddsa_token), "hmac's": status(eddsa, token)
}
report["hmac after"] = {"genuine": status(client, token), **forgeries()}
stale = [
    f"{module}.{name}"
    for module, mod in list(sys.modules.items())
    if module == "jwt" or module.startswith("jwt.")
    for name, value in vars(mod).items()
    if getattr(value, "__module__", None) == "jwt.algorithms"
    and getattr(jwt.algorithms, name, None) is not value
]
report["stale"] = stale
report["names"] = {
    module: sorted(vars(mod))
    for module, mod in sys.modules.items()
    if module == "jwt" or module.startswith("jwt.")
}
report["has_crypto"] = [jwt.algorithms.has_crypto, jwt.api_jws.has_crypto]
print(json.dumps(report))
"""
# PyJWT imported as anyone else imports it, cryptography visible.
FRESH = """
import json, sys, jwt
names = {m: sorted(vars(v)) for m, v in sys.modules.items() if m.split(".")[0] == "jwt"}
print(json.dumps(names))
"""
REFUSED = {
    "none": 401,
    "HS512": 401,
    "RS256": 401,
    "EdDSA": 401,
    "HS256 keyed with a public key": 401,
}


def test_pyjwt_without_cryptography_refuses_the_same_forgeries_then_gains_eddsa(
    tmp_path,
):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "signing.pem")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["hidden"] and report["hidden after"]
    expected = {"genuine": 200, "HS256 (control)": 200, **REFUSED}
    assert report["hmac"] == expected
    assert report["eddsa"] == {"genuine": 200, "hmac's": 401}
    assert report["hmac after"] == expected
    assert report["stale"] == []
    fresh = json.loads(
        subprocess.run(
            [sys.executable, "-c", FRESH], capture_output=True, text=True, check=True
        ).stdout
    )
    assert set(fresh) <= set(report["names"])
    missing = {m: set(fresh[m]) - set(report["names"][m]) for m in fresh}
    assert not any(missing.values()), missing  # nothing PyJWT defines is left out
    assert report["has_crypto"] == [True, True]
