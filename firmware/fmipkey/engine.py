# What the AR and MN engines share: their report to the daemon (counters and typed
# events), the token bucket every rate limit uses, and the retransmission timer. Both
# time intervals with now.ms (clock.Now), integer milliseconds.
from fmipkey.compat import const

MAX_EVENTS = const(32)    # events kept until the daemon drains them


class Report:
    """Counters (name -> int) and events (oldest first, at most MAX_EVENTS) of one engine;
    its parts share one Report, the daemon reads the counters and drains the events."""

    def __init__(self):
        self.counters = {}
        self.events = []

    def count(self, name):
        self.counters[name] = self.counters.get(name, 0) + 1

    def drop(self, reason):
        """Count a dropped packet; returns the (empty) list of packets to send."""
        self.count("dropped." + reason)
        return []

    def event(self, ev):
        if len(self.events) >= MAX_EVENTS:
            del self.events[0]
            self.count("events.lost")
        self.events.append(ev)


class TokenBucket:
    """`rate` tokens per second, at most `rate` saved up: a burst of `rate`, then `rate` per second.
    Counted in thousandths of a token, so a millisecond of `rate` per second is a whole number."""

    def __init__(self, rate):
        self.rate = rate
        self._milli = rate * 1000
        self._at = None

    def _fill(self, now):
        if self._at is not None:
            self._milli = min(self.rate * 1000, self._milli + max(0, now.ms - self._at) * self.rate)
        self._at = now.ms

    def available(self, now):
        """Whole tokens available now."""
        self._fill(now)
        return int(self._milli // 1000)

    def take(self, now):
        """Spend a token; False (nothing spent) when there is none."""
        self._fill(now)
        if self._milli < 1000:
            return False
        self._milli -= 1000
        return True

    def ready_at(self, now):
        """When the next token is there (now.ms if it is), in now.ms's milliseconds."""
        self._fill(now)
        return now.ms + (max(0, 1000 - self._milli) + self.rate - 1) // self.rate


class Retx:
    """A message sent until answered: the packet resent as is (None: rebuilt per send),
    when it is next due (now.ms), the current timeout (ms) and how many retransmissions are left."""
    RESEND = "resend"
    GIVE_UP = "give-up"

    def __init__(self, pkt, now, timeout, left):
        self.pkt = pkt
        self.timeout = timeout
        self.due = now.ms + timeout
        self.left = left

    def check(self, now):
        """None (not due), RESEND (the timeout doubled, one retransmission used) or GIVE_UP."""
        if now.ms < self.due:
            return None
        if not self.left:
            return self.GIVE_UP
        self.left -= 1
        self.timeout *= 2
        self.due = now.ms + self.timeout
        return self.RESEND

    def resend(self, now, report, what):
        """For a packet resent as is: [] (not due), [pkt] (counted resent.<what>) or None (give up)."""
        d = self.check(now)
        if d == self.GIVE_UP:
            return None
        if d:
            report.count("resent." + what)
            return [self.pkt]
        return []
