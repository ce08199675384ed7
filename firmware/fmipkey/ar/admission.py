# What the AR lets through to its expensive work (RSA verify ~1 ms, sign ~20 ms under
# MicroPython) when the link is hostile (docs/hostile-link.md): a limit per source and a
# cache of recently verified signatures (a replay within the timestamp fuzz would
# otherwise verify again).
from fmipkey.compat import const
from fmipkey.engine import TokenBucket

SOURCES_MAX = const(64)     # sources tracked at once
REPLAY_MAX = const(64)      # verified signatures remembered


class PerSource:
    """`rate` requests per second per source (a MAC, or an IPv6 address), a burst of `rate`."""

    def __init__(self, rate, size=SOURCES_MAX):
        self.rate = rate
        self.size = size
        self._buckets = {}

    def take(self, source, now):
        """Spend one of `source`'s tokens; False when it has none."""
        b = self._buckets.get(source)
        if b is None:
            if len(self._buckets) >= self.size:
                # any other source makes room (a lookup, not a scan, at any flood rate): a
                # source pushed out comes back with a full bucket, which only helps it
                for k in self._buckets:
                    del self._buckets[k]
                    break
            b = self._buckets[source] = TokenBucket(self.rate)
        return b.take(now)


class ReplayCache:
    """Signatures of recently verified messages: the same message again is a replay, refused
    before any RSA operation. Keyed by the signature's first 8 octets (a valid RSA signature
    looks random)."""

    def __init__(self, size=REPLAY_MAX):
        self.size = size
        self._seen = {}
        self._order = []

    def seen(self, sig):
        return bytes(sig[:8]) in self._seen

    def add(self, sig):
        k = bytes(sig[:8])
        if k in self._seen:
            return
        if len(self._order) >= self.size:
            del self._seen[self._order.pop(0)]
        self._seen[k] = True
        self._order.append(k)
