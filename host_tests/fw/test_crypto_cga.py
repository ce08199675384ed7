# CGA verification against the RFC 3972 Appendix A known-answer vector.
import binascii

import fwtest
from fmipkey.crypto import cga, der
from fmipkey.errors import ParseError, VerifyError

H = binascii.unhexlify
KEY = H("305c300d06092a864886f70d0101010500034b003048024100c2c2f137305454"
        "f10bd9cea36844b530e9211a4b262b16467cb7dfba1f595c0194f275be5a4d38"
        "6f2c3c2382508773c7867f9b3b9e63a09c7bc48f7a54ebefaf0203010001")
MOD = H("89a8a8b2e858d8b8f2633f44d2d4ce9b")
PREFIX = H("fe80000000000000")
PARAMS = MOD + PREFIX + b"\x00" + KEY
ADDR = H("fe800000000000003c4a5bf6ffb4ca6c")  # fe80::3c4a:5bf6:ffb4:ca6c


def flip(b, i, mask=1):
    b = bytearray(b)
    b[i] ^= mask
    return bytes(b)


def test_rfc3972_address():
    assert cga.address(PARAMS, 1) == ADDR


def test_rfc3972_verifies_sec1():
    assert cga.verify(ADDR, PARAMS) == 1
    assert cga.verify(memoryview(ADDR), memoryview(PARAMS)) == 1


def test_parse_and_encode():
    p = cga.parse(PARAMS)
    assert p.modifier == MOD and p.prefix == PREFIX and p.collisions == 0
    assert p.public_key_der == KEY and p.ext == b""
    assert cga.encode(MOD, PREFIX, 0, KEY) == PARAMS
    assert der.parse_spki(p.public_key_der).size == 64


def test_ug_bits_ignored():
    assert cga.verify(flip(ADDR, 8, 0x03), PARAMS) == 1


def test_corrupted_address_fails():
    for i in (9, 15):
        fwtest.raises(VerifyError, cga.verify, flip(ADDR, i), PARAMS)
    fwtest.raises(VerifyError, cga.verify, flip(ADDR, 8, 0x04), PARAMS)  # an ID bit next to u


def test_wrong_prefix_fails():
    e = fwtest.raises(VerifyError, cga.verify, flip(ADDR, 7), PARAMS)
    assert "prefix" in e.args[0]


def test_corrupted_params_fail():
    for i in (0, 15, 30, len(PARAMS) - 1):
        fwtest.raises(VerifyError, cga.verify, ADDR, flip(PARAMS, i))


def test_collision_count():
    # Hash2 leaves out the collision count, so counts 1 and 2 keep Sec 1; 3 is invalid.
    for cc in (1, 2):
        params = MOD + PREFIX + bytes((cc,)) + KEY
        assert cga.address(params, 1) != ADDR
        assert cga.verify(cga.address(params, 1), params) == 1
    params = MOD + PREFIX + b"\x03" + KEY
    e = fwtest.raises(VerifyError, cga.verify, cga.address(params, 1), params)
    assert "collision" in e.args[0]


def test_sec_claim_hash2():
    # Hash2 of the vector has 16 zero bits, not 32: claiming Sec 2 must fail.
    fwtest.raises(VerifyError, cga.verify, cga.address(PARAMS, 2), PARAMS)
    assert cga.verify(cga.address(PARAMS, 0), PARAMS) == 0


def test_extension_fields():
    ext = b"\x00\x01\x00\x03abc"
    params = PARAMS + ext
    assert cga.parse(params).ext == ext
    a = cga.address(params, 0)
    assert a != cga.address(PARAMS, 0)
    assert cga.verify(a, params) == 0
    fwtest.raises(ParseError, cga.parse, PARAMS + b"\x00\x01\x00\x04abc")
    fwtest.raises(ParseError, cga.parse, PARAMS + b"\x00\x01\x00")


def test_malformed():
    fwtest.raises(ParseError, cga.parse, PARAMS[:24])
    fwtest.raises(ParseError, cga.parse, PARAMS[:-1])
    fwtest.raises(VerifyError, cga.verify, ADDR, PARAMS[:-1])
    fwtest.raises(VerifyError, cga.verify, ADDR[:15], PARAMS)
