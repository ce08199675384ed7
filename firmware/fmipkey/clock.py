# The engines' one time source (docs/engines.md): absolute times in integer Unix
# seconds, intervals in milliseconds counted from ticks_ms. No float ever holds an
# absolute time: an ESP32's floats are single precision (64-128 s steps at today's
# Unix seconds), and its epoch, like most bare-metal ports', is 2000, not 1970.
import time

EPOCH_2000 = 946684800  # Unix seconds of 2000-01-01T00:00:00Z


class Now:
    """One reading of the clock, what the engines get as `now`: s, integer Unix seconds
    (absolute times: SEND timestamps, certificate validity, key and binding expiry); ms,
    integer milliseconds that never wrap, for intervals only (retransmissions, rates; their
    origin means nothing, they are never negative); sub, the milliseconds already spent in
    second s (0..999)."""

    def __init__(self, s, ms, sub=0):
        self.s = s
        self.ms = ms
        self.sub = sub


class Clock:
    """Readings of a `time` module (the port's, or a test's): its epoch found from
    time.gmtime(0), its wall clock, ticks_ms and ticks_diff for intervals (CPython:
    time.monotonic). The wall clock in integer nanoseconds where the port has time_ns (the
    unix and esp32 ports, CPython); else whole seconds from time(), all some RTCs give, and
    the sub-second part of `now` from ticks: the ticks at which the wall clock was first
    seen in its current second (so it lags by at most the time between two readings)."""

    def __init__(self, tm=time):
        self._tm = tm
        self.epoch = EPOCH_2000 if tm.gmtime(0)[0] == 2000 else 0
        if hasattr(tm, "ticks_ms"):
            self._ticks, self._diff = tm.ticks_ms, tm.ticks_diff
        else:
            self._ticks, self._diff = (lambda: int(tm.monotonic() * 1000)), (lambda a, b: a - b)
        self._ns = getattr(tm, "time_ns", None)
        self._t = self._ticks()
        self._ms = 0      # ticks_ms wraps (2^30 ms, 12 days, on 32-bit ports): this does not
        self._s = None    # the wall second last seen, and self._ms when it was first seen
        self._s_ms = 0

    def unix(self):
        """Integer Unix seconds now."""
        if self._ns is not None:
            return self._ns() // 1000000000 + self.epoch
        return int(self._tm.time()) + self.epoch

    def now(self):
        """A Now; call it more often than every 6 days (half the ticks period) so no wrap is missed."""
        t = self._ticks()
        self._ms += self._diff(t, self._t)
        self._t = t
        if self._ns is not None:
            ns = self._ns()
            return Now(ns // 1000000000 + self.epoch, self._ms, ns // 1000000 % 1000)
        s = self.unix()
        if s != self._s:
            self._s, self._s_ms = s, self._ms
        return Now(s, self._ms, min(self._ms - self._s_ms, 999))


def at(t):
    """The Now at Unix time t, in seconds: for host tools and tests (their floats are doubles;
    ms counts from the Unix epoch), never on a board."""
    ms = int(round(t * 1000))
    return Now(ms // 1000, ms, ms % 1000)
