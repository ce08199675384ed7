# The engines' time on a small port (clock.py), under both interpreters: a fake `time` of a
# 2000-epoch port whose time() gives whole seconds and whose ticks_ms wraps at 2^30, as an
# ESP32's do. SEND timestamps, certificate validity and key lifetimes stay in Unix time, the
# 100 ms RtSolPr retransmission runs on ticks across their wrap, and the exchange completes.
from arfix import prrtadv
from fakear import NCOA, NOW, anchors, chain
from fmipkey import send
from fmipkey.clock import EPOCH_2000, Clock
from fmipkey.crypto import x509
from fmipkey.errors import VerifyError
from fwtest import raises
from test_exchange import pair

PERIOD = 1 << 30  # ticks_ms period of a 32-bit MicroPython port


class Port2000:
    """A small port's `time` module: epoch 2000 (gmtime(0) says so), time() in whole seconds,
    ticks_ms wrapping at PERIOD with MicroPython's ticks_diff. advance(ms) moves both."""

    def __init__(self, unix_ms, ticks):
        self.unix_ms = unix_ms
        self.ticks = ticks

    def gmtime(self, t):
        assert t == 0
        return (2000, 1, 1, 0, 0, 0, 5, 1)

    def time(self):
        return self.unix_ms // 1000 - EPOCH_2000

    def ticks_ms(self):
        return self.ticks

    def ticks_diff(self, a, b):
        return ((a - b + PERIOD // 2) & (PERIOD - 1)) - PERIOD // 2

    def advance(self, ms):
        self.unix_ms += ms
        self.ticks = (self.ticks + ms) & (PERIOD - 1)


def test_unix_seconds_from_a_2000_epoch_and_the_fraction_from_ticks():
    tm = Port2000(NOW * 1000 + 400, PERIOD - 300)          # 400 ms into second NOW; ticks wrap in 300 ms
    c = Clock(tm)
    n0 = c.now()
    assert c.epoch == EPOCH_2000 and c.unix() == NOW and n0.s == NOW
    assert n0.sub == 0                                    # where in its second: not seen yet, so 0, never ahead
    tm.advance(500)                                       # ticks wrapped; 900 ms into NOW
    n = c.now()
    assert (n.s, n.sub, n.ms - n0.ms) == (NOW, 500, 500)
    tm.advance(150)                                       # 50 ms into NOW + 1: first seen now
    n = c.now()
    assert (n.s, n.sub) == (NOW + 1, 0)
    tm.advance(250)
    n = c.now()
    assert (n.s, n.sub, n.ms - n0.ms) == (NOW + 1, 250, 900)
    assert send.timestamp(n) == ((NOW + 1) << 16) + 16384    # 250 ms = 16384/65536 s, no float
    assert send.timestamp(n) >> 16 != tm.time()           # the port's own seconds would be 30 years off


class Port2000ns(Port2000):
    """The same port with time_ns (integer nanoseconds since its epoch), as the esp32 port has."""

    def time_ns(self):
        return (self.unix_ms - EPOCH_2000 * 1000) * 1000000 + 123


def test_the_fraction_from_time_ns_where_the_port_has_it():
    tm = Port2000ns(NOW * 1000 + 400, 5)
    c = Clock(tm)
    n = c.now()
    assert (n.s, n.sub, c.unix()) == (NOW, 400, NOW)       # exact from the first reading
    tm.advance(1750)
    n = c.now()
    assert (n.s, n.sub, n.ms) == (NOW + 2, 150, 1750)
    assert send.timestamp(n) == ((NOW + 2) << 16) + 150 * 65536 // 1000


def test_certificate_validity_in_unix_time():
    tm = Port2000(NOW * 1000, 0)
    path = [x509.parse(d) for d in chain()]
    assert x509.validate_path(path, anchors(), Clock(tm).unix()).name() == "router1"
    # the port's seconds taken as Unix seconds are 1993: before the fixtures' 2020
    e = raises(VerifyError, x509.validate_path, path, anchors(), tm.time())
    assert "not valid at this time" in e.args[0]


def test_exchange_on_a_2000_epoch_port_with_ticks_wrapping():
    tm = Port2000(NOW * 1000 + 900, PERIOD - 120)
    c = Clock(tm)
    ar, mn = pair(0)
    out = mn.start(c.now())
    sol = []
    for p in out:
        for q in ar.handle(p, c.now()):
            sol.extend(mn.handle(q, c.now()))
    assert len(sol) == 1 and mn.state == "requesting"
    issued = c.unix()
    assert len(ar.handle(sol[0], c.now())) == 1           # the key is issued; its PrRtAdv is lost
    tm.advance(99)
    assert mn.tick(c.now()) == []
    tm.advance(1)                                         # 100 ms later, across the ticks' wrap
    (again,) = mn.tick(c.now())
    (adv,) = ar.handle(again, c.now())                    # the same key, in the next second
    h, m = prrtadv(adv)
    assert send.Signed(m).timestamp >> 16 == c.unix() == issued + 1       # Unix seconds on the wire
    assert mn.handle(adv, c.now()) == [] and mn.state == "keyed"
    hk = mn.keys[(ar.addr, mn.addr)]
    assert hk.expiry == issued + 43200 == ar.keystore.get(mn.addr, issued)[2]
    tm.advance(1000)
    for p in mn.fbu(ar.addr, NCOA, c.now()):
        for q in ar.handle(p, c.now()):
            mn.handle(q, c.now())
    assert mn.state == "done" and ar.bindings[mn.addr].expiry == c.unix() + 300
