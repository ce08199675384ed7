# Seeded garbage and mutated valid packets through every wire parser: only ParseError may escape.
import random
from fmipkey.errors import ParseError
from fmipkey.wire import icmp6, ndopt, fmip, certpath, mh

OPT_PARSERS = {
    ndopt.SRC_LLA: ndopt.parse_link_addr, ndopt.TGT_LLA: ndopt.parse_link_addr, ndopt.CGA: ndopt.parse_cga,
    ndopt.RSA_SIG: ndopt.parse_rsa_sig, ndopt.TIMESTAMP: ndopt.parse_timestamp,
    ndopt.NONCE: ndopt.parse_nonce, ndopt.TRUST_ANCHOR: ndopt.parse_trust_anchor,
    ndopt.CERTIFICATE: ndopt.parse_certificate, ndopt.IP_ADDR: ndopt.parse_ip_addr,
    ndopt.NEW_PREFIX: ndopt.parse_ip_addr, ndopt.FMIP_LLA: ndopt.parse_fmip_lla,
    ndopt.HK_REQUEST: ndopt.parse_hk_request, ndopt.HK_REPLY: ndopt.parse_hk_reply,
}
A = bytes(range(1, 17))
B = bytes(range(17, 33))


def decode(buf):
    """Every parser on buf; options of a parsed message through their own codecs. True when a
    message parser (RtSolPr/PrRtAdv, CPS/CPA, FBU/FBack, alone or in its IPv6 packet) took it."""
    took = False
    for parse in (fmip.parse, certpath.parse):
        try:
            m = parse(buf)
        except ParseError:
            continue
        took = True
        for t, s, e in m.opts:
            p = OPT_PARSERS.get(t)
            if p:
                try:
                    p(m.raw, s, e)
                except ParseError:
                    pass
    for parse in (mh.parse, mh.parse_dstopts, mh.parse_packet, icmp6.IPv6):
        try:
            parse(buf)
            took = took or parse in (mh.parse, mh.parse_packet)
        except ParseError:
            pass
    return took


def seeds():
    opts = (ndopt.link_addr(1, b"\x02\x00\x00\x00\x00\x01") + ndopt.fmip_lla(1, b"\x00\x11\x22\x33\x44\x55")
            + ndopt.ip_addr(3, 128, A) + ndopt.ip_addr(4, 64, B, 18) + ndopt.cga(bytes(40))
            + ndopt.timestamp(12345 << 16) + ndopt.nonce(b"abcdef") + ndopt.hk_request(0, bytes(30))
            + ndopt.hk_reply(1, 60, bytes(20)) + ndopt.rsa_sig(bytes(16), bytes(20)))
    out = [bytes(fmip.RtSolPr.emit(1, opts)), bytes(fmip.PrRtAdv.emit(2, 9, opts)),
           bytes(certpath.Cps.emit(3, options=ndopt.trust_anchor(1, b"\x30\x00"))),
           bytes(certpath.Cpa.emit(3, 1, 0, ndopt.certificate(b"\x30\x82\x00\x04abcd")))]
    m, off = mh.Fbu.emit(1, 2, alt_coa=A, lla=b"\x01\x02\x03\x04\x05\x06")
    out.append(bytes(m))
    out.append(mh.packet(A, B, m, home=B))
    out.append(mh.packet(A, B, mh.Fback.emit(0, 1, 2)[0]))
    return out


def test_fuzz_garbage_and_mutations():
    random.seed(5269)
    base = seeds()
    assert all(decode(b) for b in base)
    for i in range(8000):                     # random garbage of random lengths
        ln = random.getrandbits(8) % 96
        decode(bytes(random.getrandbits(8) for _ in range(ln)))
    took = 0
    for i in range(14000):                    # valid packets with a few bytes flipped or cut
        b = bytearray(base[i % len(base)])
        for _ in range(1 + random.getrandbits(2)):
            b[random.getrandbits(16) % len(b)] = random.getrandbits(8)
        if random.getrandbits(2) == 0:
            b = b[:random.getrandbits(16) % (len(b) + 1)]
        took += decode(b)
    # The mutations reach past the headers: a good share still decodes (options and all), and
    # a good share does not (the checks refuse what they must).
    assert 0.3 < took / 14000 < 0.9, took
