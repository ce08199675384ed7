# HMAC (RFC 2104) over the backend's hashes: MicroPython has no hmac module.
from fmipkey.crypto import backend


class Key:
    """An HMAC-`alg` key (alg "sha1" or "sha256"; both have 64-octet blocks) with its inner
    and outer pads made once, for a key that MACs many messages."""

    def __init__(self, alg, key):
        h = self._h = backend.hasher(alg)
        if len(key) > 64:
            key = h(key).digest()
        key = bytes(key) + bytes(64 - len(key))
        self._inner = bytes(b ^ 0x36 for b in key)
        self._outer = bytes(b ^ 0x5C for b in key)

    def digest(self, msg):
        inner = self._h(self._inner)
        inner.update(msg)
        outer = self._h(self._outer)
        outer.update(inner.digest())
        return outer.digest()


def digest(alg, key, msg):
    """HMAC-`alg`(key, msg)."""
    return Key(alg, key).digest(msg)


def equal(a, b):
    """Compare two byte strings in time independent of where they differ."""
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0
