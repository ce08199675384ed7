# The pieces the engines share (engine.py), the settings they get (config.Settings), the MN's
# transition table and SEND's split verification, each on its own.
from fwtest import now_at, raises
from arfix import NOW, Node, key, rtsolpr
from fmipkey import config, send
from fmipkey.engine import MAX_EVENTS, Report, Retx, TokenBucket
from fmipkey.errors import ConfigError, VerifyError
from fmipkey.events import HkepkRetired
from fmipkey.wire import fmip, icmp6


def test_token_bucket_burst_then_rate():
    b = TokenBucket(2)
    t = now_at(10)
    assert b.take(t) and b.take(t) and not b.take(t)         # a burst of `rate`
    t = now_at(10.25)
    assert b.available(t) == 0 and not b.take(t)             # half a token back
    assert b.ready_at(t) == now_at(10.5).ms and b.take(now_at(10.5))
    assert b.available(now_at(100)) == 2                     # never more than `rate` saved up
    b = TokenBucket(3)                                       # 333.3 ms a token: ready_at rounds up
    assert b.take(t) and b.take(t) and b.take(t) and b.ready_at(t) == t.ms + 334


def test_report_keeps_the_newest_events():
    r = Report()
    for i in range(MAX_EVENTS + 3):
        r.event(HkepkRetired())
    assert len(r.events) == MAX_EVENTS and r.counters["events.lost"] == 3
    assert r.drop("checksum") == [] and r.counters["dropped.checksum"] == 1


def test_retx_doubles_then_gives_up():
    t = Retx(b"pkt", now_at(0), 1000, 2)                    # timeouts in ms, from now.ms
    r = Report()
    assert t.resend(now_at(0.999), r, "x") == [] and t.resend(now_at(1), r, "x") == [b"pkt"]
    assert t.resend(now_at(2.999), r, "x") == [] and t.resend(now_at(3), r, "x") == [b"pkt"]
    assert t.resend(now_at(7), r, "x") is None and r.counters["resent.x"] == 2


def test_settings_are_typed_once():
    s = config.settings({"prefix": "2001:db8:7::/64", "router": "fe80::1", "keystore_max": 9, "neighbors": [
        {"ap_id": "02-00-00-00-01-01", "nar_lla": "020000000201", "nar_addr": "2001:db8:2::1",
         "nar_prefix": "2001:db8:2::/64", "fmip": False}]})
    assert s.prefix == bytes.fromhex("20010db800070000") and s.router == bytes.fromhex("fe80" + "00" * 13 + "01")
    n = s.neighbors[0]
    assert (n.ap_id, n.nar_lla, n.fmip) == (bytes.fromhex("020000000101"), bytes.fromhex("020000000201"), False)
    assert n.nar_prefix == bytes.fromhex("20010db800020000") and s.max_bindings == 9
    assert config.settings({}).router is None
    raises(ConfigError, config.settings, {"prefix": "2001:db8::/48"})


def test_mn_transition_table():
    from fmipkey import mn
    assert mn._NEXT["key"] == {mn.VALIDATED: mn.KEYED, mn.REQUESTING: mn.KEYED}
    assert all(mn._NEXT["start"][s] == mn.DISCOVERING for s in mn._ALL)
    assert mn.FAILED not in mn._NEXT["fbu"] and mn.FAILED not in mn._NEXT["accepted"]


def test_signature_and_freshness_apart():
    # A stale RtSolPr is authentic (check_signature) but not fresh (check_fresh); verify refuses
    # it before any RSA operation and the timestamp cache learns nothing.
    mn = Node("rsa1024_b.pem")
    dst = icmp6.ALL_ROUTERS
    pkt = rtsolpr(mn, dst, key("rsa1024_pkcs8.pem").public, now=NOW - 3600)
    m = fmip.parse(icmp6.IPv6(pkt).payload)
    s = send.Signed(m)
    v = send.check_signature(m, s, mn.addr, dst)
    assert v.sec == 0 and v.timestamp == (NOW - 3600) << 16
    cache = send.Timestamps()
    assert raises(VerifyError, send.check_fresh, s, mn.addr, now_at(NOW), cache).code == "timestamp_window"
    assert raises(VerifyError, send.verify, m, mn.addr, dst, now_at(NOW), cache).code == "timestamp_window"
    assert cache.peers == {}
    send.check_fresh(s, mn.addr, now_at(NOW - 3600), cache, solicitation=True)
