# Seeded garbage and mutated valid inputs through the crypto parsers, CGA verification and
# send.verify, on both interpreters: only ParseError / VerifyError may escape, and a failed
# verification never touches the Timestamps cache.
import random

import fwtest
from fmipkey import send
from fmipkey.crypto import cga, der, x509
from fmipkey.errors import ParseError, VerifyError
from fmipkey.wire import fmip, ndopt
from fwtest import now_at

PREFIX = bytes.fromhex("fe80000000000000")
AR = bytes.fromhex("fe800000000000000000000000000001")
NOW = 1700000000


def garbage(n):
    return bytes(random.getrandbits(8) for _ in range(n))


def mutate(base):
    """base with 1-4 octets overwritten, then maybe cut short or with junk inserted."""
    b = bytearray(base)
    for _ in range(1 + random.getrandbits(2)):
        b[random.getrandbits(16) % len(b)] = random.getrandbits(8)
    r = random.getrandbits(2)
    if r == 0:
        b = b[:random.getrandbits(16) % (len(b) + 1)]
    elif r == 1:
        p = random.getrandbits(16) % (len(b) + 1)
        b = b[:p] + garbage(1 + random.getrandbits(3)) + b[p:]
    return bytes(b)


def only(allowed, fn, *args):
    try:
        return fn(*args)
    except allowed:
        return None


def der_inputs():
    pem = fwtest.data("rsa1024_a.pem", "r")
    priv = der.pem_decode(pem)[0][1]
    p8 = der.pem_decode(fwtest.data("rsa1024_pkcs8.pem", "r"))[0][1]
    spki = der.encode_spki(der.parse_private_key(priv).public)
    return pem, [priv, p8, spki]


def test_fuzz_der_and_pem():
    random.seed(3972)
    pem, bases = der_inputs()
    for i in range(4000):
        b = garbage(random.getrandbits(7)) if i % 3 == 0 else mutate(bases[i % len(bases)])
        only(ParseError, der.parse_spki, b)
        only(ParseError, der.parse_private_key, b)
    for i in range(1500):
        t = bytearray(pem.encode())
        for _ in range(1 + random.getrandbits(2)):
            # printable ASCII, newlines and dashes: the characters PEM structure is made of
            t[random.getrandbits(16) % len(t)] = b"-\nA/+=B "[random.getrandbits(3) % 7]
        if i % 4 == 0:
            t = t[:random.getrandbits(16) % len(t)]
        blocks = only(ParseError, der.pem_decode, t.decode())
        for _, d in blocks or ():
            only(ParseError, der.parse_private_key, d)
        only(ParseError, der.pem_decode, garbage(random.getrandbits(6)))


def test_fuzz_x509_parse():
    random.seed(3779)
    bases = [fwtest.data("cert_%s.der" % n) for n in ("root", "ca", "router", "router_inherit")]
    for i in range(4000):
        b = garbage(random.getrandbits(8)) if i % 4 == 0 else mutate(bases[i % len(bases)])
        c = only(ParseError, x509.parse, b)
        if c is not None:
            c.name()


def test_fuzz_cga():
    random.seed(4982)
    _, bases = der_inputs()
    params = cga.encode(bytes(range(16)), PREFIX, 0, bases[2])
    addr = cga.address(params, 0)
    ext = cga.encode(bytes(range(16)), PREFIX, 1, bases[2], b"\x00\x01\x00\x02ab")
    for i in range(4000):
        if i % 4 == 0:
            b, a = garbage(random.getrandbits(7)), garbage(16)
        else:
            b, a = mutate(params if i % 2 else ext), addr
        only(ParseError, cga.parse, b)
        only(VerifyError, cga.verify, a, b)
        only(VerifyError, cga.verify, mutate(addr), params)


def test_fuzz_send_verify():
    random.seed(5269)
    priv = der.parse_private_key(der.pem_decode(fwtest.data("rsa1024_a.pem", "r"))[0][1])
    spki = der.encode_spki(priv.public)
    params = cga.encode(bytes(range(16)), PREFIX, 0, spki)
    src = cga.address(params, 0)
    body = fmip.RtSolPr.emit(42, ndopt.fmip_lla(1, b"\x00\x11\x22\x33\x44\x55") + ndopt.hk_request(0, spki))
    msg = bytes(send.message(src, AR, body, priv, cga_params=params, now=now_at(NOW), nonce=b"NONCE1"))
    cache = send.Timestamps(size=4)
    cache.accept(bytes(16), (NOW - 5) << 16, now_at(NOW - 5))  # another peer, so the cache is not empty
    sig = fmip.parse(msg).sig
    def covered(b):     # what the signature covers (not the checksum), then key hash and signature
        return b[:2] + b[4:sig] + b[sig + 4:sig + 20 + priv.size]
    signed = covered(msg)
    ok = 0
    for i in range(4000):
        b = mutate(msg)
        m = only(ParseError, fmip.parse, b)
        if m is None:
            continue
        before = dict(cache.peers)
        try:
            send.verify(m, src, AR, now_at(NOW), cache, solicitation=True)
            ok += 1
            # only a mutation outside those bytes (checksum, reserved octets, padding, after the
            # signature option) or an overwrite with the same value may pass
            assert m.sig == sig and covered(b) == signed, b
        except (ParseError, VerifyError):
            assert cache.peers == before
    assert 0 < ok < 80, ok      # nearly every mutation is caught; the harmless ones are not
