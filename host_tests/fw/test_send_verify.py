# SEND signing and verification (RFC 3971 5.1-5.3) with the static test keys, both interpreters.
from fwtest import data, raises
from fmipkey import send
from fmipkey.crypto import cga, der, rsa
from fmipkey.errors import VerifyError
from fmipkey.wire import fmip, icmp6, ndopt
from fwtest import now_at

PREFIX = bytes.fromhex("fe80000000000000")
AR = bytes.fromhex("fe800000000000000000000000000001")
NOW = 1700000000


def key(name):
    priv = der.parse_private_key(der.pem_decode(data(name, "r"))[0][1])
    return priv, der.encode_spki(priv.public)


def node(name="rsa1024_a.pem"):
    priv, spki = key(name)
    params = cga.encode(bytes(range(16)), PREFIX, 0, spki)
    return priv, spki, params, cga.address(params, 0)


def rtsolpr(priv, params, src, now=NOW, nonce=b"NONCE1", extra=b""):
    body = fmip.RtSolPr.emit(42, ndopt.fmip_lla(1, b"\x00\x11\x22\x33\x44\x55") + ndopt.hk_request(0, params[25:]))
    return send.message(src, AR, body, priv, cga_params=params, now=now_at(now), nonce=nonce) + extra


def test_signed_rtsolpr_verifies():
    priv, spki, params, src = node()
    msg = rtsolpr(priv, params, src)
    assert icmp6.checksum_ok(msg, src, AR)
    m = fmip.parse(msg)
    assert m.opts[-1][0] == ndopt.RSA_SIG and m.opts[-1][2] == len(msg)
    v = send.verify(m, src, AR, now_at(NOW + 2), solicitation=True)
    assert v.sec == 0 and v.key == priv.public and v.key_hash == send.key_hash(spki)
    assert v.timestamp == NOW << 16 and bytes(v.nonce) == b"NONCE1"


def test_rsa_signature_option_fields():
    priv, spki, params, src = node()
    m = fmip.parse(rtsolpr(priv, params, src))
    kh, field = ndopt.parse_rsa_sig(m.raw, m.sig, m.opts[-1][2])
    # 4 + 16 + 128 = 148 -> 152 octets, 4 of padding
    assert m.opts[-1][2] - m.sig == 152 and bytes(field[128:]) == bytes(4) and bytes(kh) == send.key_hash(spki)


def test_rsa2048_and_known_key_without_cga_option():
    priv, spki = key("rsa2048_a.pem")
    body = fmip.PrRtAdv.emit(2, 42)
    msg = send.message(AR, AR, body, priv, spki=spki, now=now_at(NOW), nonce=b"NONCE1")
    m = fmip.parse(msg)
    raises(VerifyError, send.verify, m, AR, AR, now_at(NOW))            # no CGA, key unknown
    v = send.verify(m, AR, AR, now_at(NOW), known={send.key_hash(spki): priv.public}, nonce=b"NONCE1")
    assert v.sec is None and v.key.size == 256


def test_forged_signature():
    priv, spki, params, src = node()
    msg = rtsolpr(priv, params, src)
    m = fmip.parse(msg)
    msg[m.sig + 40] ^= 1
    e = raises(VerifyError, send.verify, fmip.parse(msg), src, AR, now_at(NOW))
    assert e.args[0] == "bad signature"
    msg = rtsolpr(priv, params, src)
    msg[7] ^= 1                                   # identifier changed after signing
    assert raises(VerifyError, send.verify, fmip.parse(msg), src, AR, now_at(NOW)).args[0] == "bad signature"
    msg = rtsolpr(priv, params, src)              # signed for another destination
    assert raises(VerifyError, send.verify, fmip.parse(msg), src, bytes(16), now_at(NOW)).args[0] == "bad signature"


def test_signed_by_other_key():
    priv, spki, params, src = node()
    other, ospki = key("rsa1024_b.pem")
    body = fmip.RtSolPr.emit(1)
    msg = send.message(src, AR, body, other, cga_params=params, spki=ospki, now=now_at(NOW), nonce=b"NONCE1")
    e = raises(VerifyError, send.verify, fmip.parse(msg), src, AR, now_at(NOW))
    assert e.args[0] == "key hash does not match CGA key"
    # right key hash, wrong key: the signature fails
    msg = send.message(src, AR, body, other, cga_params=params, now=now_at(NOW), nonce=b"NONCE1")
    assert raises(VerifyError, send.verify, fmip.parse(msg), src, AR, now_at(NOW)).args[0] == "bad signature"


def test_cga_mismatch():
    priv, spki, params, src = node()
    msg = rtsolpr(priv, params, src)
    other = src[:15] + bytes((src[15] ^ 1,))
    e = raises(VerifyError, send.verify, fmip.parse(msg), other, AR, now_at(NOW))
    assert e.args[0] == "CGA hash1"


def test_options_after_signature_ignored():
    priv, spki, params, src = node()
    tail = ndopt.nonce(b"OTHER1") + ndopt.option(200, b"anything")
    msg = rtsolpr(priv, params, src, extra=tail)
    icmp6.set_checksum(msg, src, AR)
    v = send.verify(fmip.parse(msg), src, AR, now_at(NOW), nonce=b"NONCE1")
    assert bytes(v.nonce) == b"NONCE1"


def test_unsigned_and_missing_options():
    priv, spki, params, src = node()
    e = raises(VerifyError, send.verify, fmip.parse(fmip.RtSolPr.emit(1)), src, AR, now_at(NOW))
    assert e.args[0] == "no RSA Signature option"
    msg = send.message(src, AR, fmip.RtSolPr.emit(1), priv, cga_params=params, nonce=b"NONCE1")
    assert raises(VerifyError, send.verify, fmip.parse(msg), src, AR, now_at(NOW)).args[0] == "no Timestamp option"
    msg = send.message(src, AR, fmip.RtSolPr.emit(1), priv, cga_params=params, now=now_at(NOW))
    e = raises(VerifyError, send.verify, fmip.parse(msg), src, AR, now_at(NOW), None, None, None, True)
    assert e.args[0] == "solicitation without Nonce"


def test_nonce_mismatch():
    priv, spki, params, src = node()
    m = fmip.parse(rtsolpr(priv, params, src))
    assert raises(VerifyError, send.verify, m, src, AR, now_at(NOW), None, None, b"NONCE2").args[0] == "nonce mismatch"
    m = fmip.parse(rtsolpr(priv, params, src, nonce=None))
    assert raises(VerifyError, send.verify, m, src, AR, now_at(NOW), None, None, b"NONCE1").args[0] == "nonce mismatch"


def test_solicited_advertisement_skips_timestamp_window():
    priv, spki, params, src = node()
    m = fmip.parse(rtsolpr(priv, params, src, now=NOW - 1000))
    raises(VerifyError, send.verify, m, src, AR, now_at(NOW))
    assert send.verify(m, src, AR, now_at(NOW), nonce=b"NONCE1").sec == 0


def test_stale_timestamp_window():
    priv, spki, params, src = node()
    assert send.verify(fmip.parse(rtsolpr(priv, params, src, now=NOW - 299)), src, AR, now_at(NOW)).sec == 0
    for t in (NOW - 300, NOW + 300, NOW - 3600):
        m = fmip.parse(rtsolpr(priv, params, src, now=t))
        assert raises(VerifyError, send.verify, m, src, AR, now_at(NOW)).args[0] == "timestamp outside window"


def test_replay_rejected_by_cache():
    priv, spki, params, src = node()
    cache = send.Timestamps()
    first = fmip.parse(rtsolpr(priv, params, src, now=NOW))
    send.verify(first, src, AR, now_at(NOW), cache)
    later = fmip.parse(rtsolpr(priv, params, src, now=NOW + 100))
    send.verify(later, src, AR, now_at(NOW + 100), cache)
    # the first message again, 100 s later: inside the 300 s window but older than the last seen
    e = raises(VerifyError, send.verify, first, src, AR, now_at(NOW + 100), cache)
    assert e.args[0] == "timestamp older than last accepted"
    # a fresh peer with the same old message would pass the window: the cache is what catches it
    assert send.verify(first, src, AR, now_at(NOW + 100)).sec == 0


def test_cache_drift_and_fuzz():
    c = send.Timestamps()
    p = bytes(16)
    c.accept(p, NOW << 16, now_at(NOW))
    c.check(p, (NOW + 99) << 16, now_at(NOW + 100))         # 1 s behind after 100 s: inside drift + fuzz
    raises(VerifyError, c.check, p, (NOW + 97) << 16, now_at(NOW + 100))
    c.check(p, (NOW - 1) << 16, now_at(NOW))                # fuzz tolerates a little reordering


def test_cache_is_bounded_and_evicts_oldest():
    c = send.Timestamps(size=3)
    for i in range(4):
        c.accept(bytes((i,)) * 16, (NOW + i) << 16, now_at(NOW + i))
    assert len(c.peers) == 3 and bytes(16) not in c.peers and bytes((3,)) * 16 in c.peers
    c.accept(bytes((1,)) * 16, (NOW + 10) << 16, now_at(NOW + 10))  # refresh peer 1; peer 2 is now oldest
    c.accept(bytes((9,)) * 16, (NOW + 11) << 16, now_at(NOW + 11))
    assert bytes((2,)) * 16 not in c.peers and bytes((1,)) * 16 in c.peers


def test_cache_updated_only_on_success():
    priv, spki, params, src = node()
    cache = send.Timestamps()
    msg = rtsolpr(priv, params, src)
    msg[-10] ^= 1
    raises(VerifyError, send.verify, fmip.parse(msg), src, AR, now_at(NOW), cache)
    assert cache.peers == {}


def test_key_size_limits():
    priv, spki, params, src = node("rsa2048_a.pem")
    m = fmip.parse(rtsolpr(priv, params, src))
    assert raises(VerifyError, send.verify, m, src, AR, now_at(NOW), None, None, None, False, 1024, 1024).code == "key_size"


def forged_key_rtsolpr(n, e):
    # An RtSolPr whose CGA holds the public key (n, e), signed by another key: only the key
    # checks before the RSA operation can tell it apart from a merely bad signature.
    spki = der.encode_spki(rsa.PublicKey(n, e))
    params = cga.encode(bytes(range(16)), PREFIX, 0, spki)
    src = cga.address(params, 0)
    return fmip.parse(rtsolpr(key("rsa1024_a.pem")[0], params, src)), src


def test_key_size_counts_bits_not_octets():
    m, src = forged_key_rtsolpr((1 << 1016) | 0xFFFF, 65537)   # 128 octets but 1017 bits
    assert raises(VerifyError, send.verify, m, src, AR, now_at(NOW)).code == "key_size"
    m, src = forged_key_rtsolpr((1 << 1023) | 0xFFFF, 65537)   # 1024 bits: on to the signature
    assert raises(VerifyError, send.verify, m, src, AR, now_at(NOW)).args[0] == "bad signature"


def test_public_exponent_bounded():
    n = key("rsa1024_b.pem")[0].n
    for e in ((1 << 40) + 1, 65536, 1):
        m, src = forged_key_rtsolpr(n, e)
        assert raises(VerifyError, send.verify, m, src, AR, now_at(NOW)).code == "key_exponent"
    m, src = forged_key_rtsolpr(n, (1 << 32) + 1)               # odd but above 2^32
    assert raises(VerifyError, send.verify, m, src, AR, now_at(NOW)).code == "key_exponent"
    m, src = forged_key_rtsolpr(n, (1 << 32) - 1)               # largest odd e allowed
    assert raises(VerifyError, send.verify, m, src, AR, now_at(NOW)).args[0] == "bad signature"


def test_timestamp_units():
    assert send.ts_units(1) == 65536 and send.ts_units(1.5) == 98304
    assert len(send.new_nonce()) == 6
