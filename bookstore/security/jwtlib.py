"""PyJWT, imported without the cryptography package until a key needs it.

`import jwt` imports all of PyJWT's algorithms and, if cryptography is installed,
cryptography with them: about 5 MiB of every gunicorn worker (bench/README.md,
"Worker memory"). The default keys are HMAC (HS256), which PyJWT verifies with
hashlib and hmac alone, by the same code whether cryptography is there or not.
So the first import hides cryptography from PyJWT, which then leaves out its
asymmetric algorithms, as it does where cryptography is not installed; a keyring
with an asymmetric key calls `asymmetric()` first. Verification is pinned to the
keyring's algorithm either way (tokens.py): PyJWT knowing fewer algorithms only
refuses more.
"""

from __future__ import annotations

import importlib
import sys
import threading

# PyJWT's modules that import cryptography or copy names out of a module that
# does, each after the modules it imports from: re-running them in this order is
# importing PyJWT afresh with cryptography visible. tests/security/test_jwtlib.py
# fails if a PyJWT upgrade leaves a module without a name or holding a stale one.
_RELOAD_ORDER = (
    "jwt.utils",
    "jwt.algorithms",
    "jwt.api_jwk",
    "jwt.jwk_set_cache",
    "jwt.api_jws",
    "jwt.api_jwt",
    "jwt.jwks_client",
    "jwt",
)
_lock = threading.Lock()


def _import_jwt():
    if "jwt" in sys.modules or "cryptography" in sys.modules:
        import jwt  # loaded already, or cryptography is: nothing left to save

        return jwt
    sys.modules["cryptography"] = None  # `import cryptography` now fails
    try:
        import jwt
    finally:
        del sys.modules["cryptography"]
    return jwt


jwt = _import_jwt()
_complete = jwt.algorithms.has_crypto  # True once every module below is re-run


def asymmetric() -> None:
    """Give PyJWT its asymmetric algorithms (EdDSA, RS*, ES*, PS*), importing
    cryptography; raise ImportError if it is not installed."""
    global _complete
    if _complete:
        return
    with _lock:  # a request thread must not see PyJWT half re-imported
        if _complete:
            return
        import cryptography  # noqa: F401  (not installed: an error, not a fallback)

        for name in _RELOAD_ORDER:
            if name in sys.modules:
                importlib.reload(sys.modules[name])
        _complete = True
