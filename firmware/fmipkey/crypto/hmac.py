# HMAC (RFC 2104) over the backend's hashes: MicroPython has no hmac module.
from fmipkey.crypto import backend


def digest(alg, key, msg):
    """HMAC-`alg`(key, msg) for alg "sha1" or "sha256"; both have 64-octet blocks."""
    h = backend.hasher(alg)
    if len(key) > 64:
        key = h(key).digest()
    key = bytes(key) + bytes(64 - len(key))
    inner = h(bytes(b ^ 0x36 for b in key))
    inner.update(msg)
    outer = h(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def equal(a, b):
    """Compare two byte strings in time independent of where they differ."""
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0
