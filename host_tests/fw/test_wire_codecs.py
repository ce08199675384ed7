# Round-trip and field tests for wire/: layouts are checked byte by byte against the RFC figures.
from fwtest import raises
from fmipkey.errors import ParseError
from fmipkey.wire import icmp6, ndopt, fmip, certpath, mh

SRC = bytes.fromhex("fe800000000000000211223344556677")
DST = bytes.fromhex("fe800000000000000000000000000001")
HOME = bytes.fromhex("20010db8000000010000000000000010")
NCOA = bytes.fromhex("20010db8000000020000000000000010")


def test_checksum_rfc_arithmetic():
    # RFC 1071 example words 0001 f203 f4f5 f6f7 sum to ddf2 (before complement); with a zero
    # pseudo-header we cannot test that directly, so rebuild the pseudo-header sum by hand.
    data = bytes.fromhex("0001f203f4f5f6f7")
    words = [SRC[i] << 8 | SRC[i + 1] for i in range(0, 16, 2)] + [DST[i] << 8 | DST[i + 1] for i in range(0, 16, 2)]
    words += [0, len(data), 0, 58] + [data[i] << 8 | data[i + 1] for i in range(0, len(data), 2)]
    s = 0
    for w in words:
        s += w
        s = (s & 0xFFFF) + (s >> 16)
    assert icmp6.checksum(SRC, DST, 58, data) == (~s) & 0xFFFF


def test_checksum_odd_length_and_field():
    m = bytearray(b"\x9a\x00\xff\xff\x02\x00\x12\x34\x01")
    c = icmp6.set_checksum(m, SRC, DST)
    assert m[2:4] == bytes((c >> 8, c & 0xFF))
    assert icmp6.checksum_ok(m, SRC, DST)
    # the sum over the whole message including its checksum is all ones (RFC 4443 2.3)
    m2 = bytes(m) + b"\x00"
    words = [m2[i] << 8 | m2[i + 1] for i in range(0, len(m2), 2)]
    words += [SRC[i] << 8 | SRC[i + 1] for i in range(0, 16, 2)] + [DST[i] << 8 | DST[i + 1] for i in range(0, 16, 2)]
    s = sum(words) + len(m) + 58
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    assert s == 0xFFFF
    m[8] ^= 1
    assert not icmp6.checksum_ok(m, SRC, DST)


def test_ipv6_header():
    h = icmp6.ipv6_header(SRC, DST, 58, 8)
    assert h[:8] == bytes.fromhex("6000000000083aff")
    ip = icmp6.IPv6(h + b"12345678extra")
    assert ip.nh == 58 and ip.hlim == 255 and bytes(ip.src) == SRC and bytes(ip.dst) == DST
    assert bytes(ip.payload) == b"12345678"
    raises(ParseError, icmp6.IPv6, h + b"1234")
    raises(ParseError, icmp6.IPv6, h[:39])
    raises(ParseError, icmp6.IPv6, b"\x40" + h[1:] + b"12345678")


def test_rtsolpr_layout_and_parse():
    opts = ndopt.fmip_lla(ndopt.LLA_NEW_AP, b"\x00\x11\x22\x33\x44\x55")
    m = fmip.RtSolPr.emit(0xBEEF, opts)
    assert bytes(m[:8]) == bytes.fromhex("9a00000002 00beef".replace(" ", ""))
    assert bytes(m[8:]) == bytes.fromhex("13020100112233445500000000000000")
    p = fmip.parse(m)
    assert p.subtype == fmip.RTSOLPR and p.identifier == 0xBEEF and p.code == 0
    assert p.opts == [(19, 8, 24)] and p.sig == -1
    code, lla = ndopt.parse_fmip_lla(p.raw, 8, 24)
    assert code == 1 and bytes(lla[:6]) == b"\x00\x11\x22\x33\x44\x55"


def test_prrtadv_codes():
    for code in range(6):
        p = fmip.parse(fmip.PrRtAdv.emit(code, 7))
        assert p.subtype == fmip.PRRTADV and p.code == code and p.identifier == 7 and p.opts == []
    raises(ParseError, fmip.parse, fmip.PrRtAdv.emit(6, 7))
    bad = fmip.RtSolPr.emit(1)
    bad[1] = 1
    raises(ParseError, fmip.parse, bad)
    bad = fmip.RtSolPr.emit(1)
    bad[4] = 4
    raises(ParseError, fmip.parse, bad)
    bad[0] = 133
    raises(ParseError, fmip.parse, bad)
    raises(ParseError, fmip.parse, fmip.RtSolPr.emit(1)[:7])


def test_options_walk_stops_at_first_signature():
    sig = ndopt.rsa_sig(bytes(range(16)), b"S" * 12)
    assert len(sig) == 32 and sig[:4] == b"\x0c\x04\x00\x00" and sig[4:20] == bytes(range(16))
    after = ndopt.option(99, b"junk")
    m = fmip.RtSolPr.emit(1, ndopt.nonce(b"ABCDEF") + sig + after + b"\x00\x00")  # garbage after is ignored
    p = fmip.parse(m)
    assert p.sig == 16 and [o[0] for o in p.opts] == [14, 12]
    kh, s = ndopt.parse_rsa_sig(p.raw, 16, 48)
    assert bytes(kh) == bytes(range(16)) and bytes(s) == b"S" * 12


def test_unknown_options_kept_and_skipped():
    m = fmip.RtSolPr.emit(1, ndopt.option(200, b"xxxxxx") + ndopt.nonce(b"123456"))
    p = fmip.parse(m)
    assert [o[0] for o in p.opts] == [200, 14]
    assert p.find(14) == (16, 24) and p.find(13) is None


def test_option_helper_finds_and_parses():
    m = fmip.parse(fmip.RtSolPr.emit(1, ndopt.nonce(b"123456") + ndopt.fmip_lla(0, b"") + ndopt.fmip_lla(1, b"AB")))
    assert bytes(m.option(ndopt.NONCE, ndopt.parse_nonce)) == b"123456"
    assert m.option(ndopt.TIMESTAMP, ndopt.parse_timestamp) is None
    assert [(c, bytes(a[:2])) for c, a in m.options(ndopt.FMIP_LLA, ndopt.parse_fmip_lla)] == [(0, b"\0\0"), (1, b"AB")]
    assert m.options(ndopt.CGA, ndopt.parse_cga) == []


def test_icmp_packet_and_addresses():
    pkt = icmp6.packet(SRC, icmp6.ALL_ROUTERS, fmip.RtSolPr.emit(7))
    ip = icmp6.IPv6(pkt)
    assert ip.nh == 58 and ip.hlim == 255 and bytes(ip.dst) == bytes.fromhex("ff020000000000000000000000000002")
    assert icmp6.checksum_ok(ip.payload, ip.src, ip.dst) and fmip.parse(ip.payload).identifier == 7
    assert icmp6.solicited_node(SRC) == bytes.fromhex("ff0200000000000000000001ff556677")
    assert icmp6.ALL_NODES == bytes.fromhex("ff020000000000000000000000000001")


def test_parse_error_codes():
    assert raises(ParseError, mh.parse_packet, icmp6.ipv6_header(SRC, DST, 58, 0)).code == "no_mh"
    other = bytearray(mh.Fback.emit(0, 1, 1, auth_len=0)[0])
    other[2] = 5                                  # a Binding Update: not FMIPv6
    assert raises(ParseError, mh.parse, other).code == "mh_type"
    assert raises(ParseError, fmip.parse, b"\x9a").code == "malformed"


def test_bad_option_lengths():
    raises(ParseError, fmip.parse, fmip.RtSolPr.emit(1, b"\x0e\x00" + bytes(6)))   # length 0
    raises(ParseError, fmip.parse, fmip.RtSolPr.emit(1, b"\x0e\x02" + bytes(6)))   # overruns
    raises(ParseError, fmip.parse, fmip.RtSolPr.emit(1, b"\x0e"))                  # truncated header


def test_lla_and_address_options():
    o = ndopt.link_addr(ndopt.SRC_LLA, b"\x02\x00\x00\x00\x00\x01")
    assert o == b"\x01\x01\x02\x00\x00\x00\x00\x01"
    assert bytes(ndopt.parse_link_addr(o, 0, 8)) == b"\x02\x00\x00\x00\x00\x01"
    o = ndopt.ip_addr(4, 64, NCOA, ndopt.NEW_PREFIX)
    assert len(o) == 24 and o[:8] == b"\x12\x03\x04\x40\x00\x00\x00\x00" and o[8:] == NCOA
    code, plen, a = ndopt.parse_ip_addr(o, 0, 24)
    assert (code, plen, bytes(a)) == (4, 64, NCOA)
    bad = bytearray(o)
    bad[3] = 129
    raises(ParseError, ndopt.parse_ip_addr, bad, 0, 24)


def test_cga_option_padding():
    params = bytes(range(200)) + b"\x01"        # 201 octets: 4 + 201 = 205 -> 3 padding
    o = ndopt.cga(params)
    assert len(o) == 208 and o[0] == 11 and o[1] == 26 and o[2] == 3 and o[3] == 0 and o[-3:] == b"\x00\x00\x00"
    assert bytes(ndopt.parse_cga(o, 0, 208)) == params
    bad = bytearray(o)
    bad[2] = 205
    raises(ParseError, ndopt.parse_cga, bad, 0, 208)


def test_timestamp_option():
    ts = (1700000000 << 16) | 0x8000
    o = ndopt.timestamp(ts)
    assert o == b"\x0d\x02" + bytes(6) + (1700000000).to_bytes(6, "big") + b"\x80\x00"
    assert ndopt.parse_timestamp(o, 0, 16) == ts
    raises(ParseError, ndopt.parse_timestamp, o + bytes(8), 0, 24)


def test_nonce_option():
    o = ndopt.nonce(b"abcdefghijklmn")
    assert o[:2] == b"\x0e\x02" and bytes(ndopt.parse_nonce(o, 0, 16)) == b"abcdefghijklmn"
    raises(ValueError, ndopt.nonce, b"abcde")
    raises(ValueError, ndopt.nonce, b"abcdefg")


def test_trust_anchor_and_certificate():
    name = b"\x30\x0b\x31\x09\x30\x07\x06\x03\x55\x04\x03\x0c\x00"
    o = ndopt.trust_anchor(ndopt.NAME_DER, name)
    assert o[:4] == bytes((15, 3, 1, 7)) and len(o) == 24
    t, n = ndopt.parse_trust_anchor(o, 0, 24)
    assert t == 1 and bytes(n) == name
    cert = b"\x30\x81\x83" + bytes(range(0x83))
    o = ndopt.certificate(cert)
    assert o[:4] == bytes((16, (4 + len(cert) + 7) // 8, 1, 0))
    t, c = ndopt.parse_certificate(o, 0, len(o))
    assert t == 1 and bytes(c) == cert
    raises(ParseError, ndopt.parse_certificate, o[:-8], 0, len(o) - 8)


def test_hk_request_rfc5269_layout():
    key = bytes(range(162))            # 4 + 162 = 166 -> Length 21, Pad Length 2
    o = ndopt.hk_request(1, key)
    assert len(o) == 168 and o[0] == 27 and o[1] == 21 and o[2] == 2 and o[3] == 0x10
    assert o[4:166] == key and o[166:] == b"\x00\x00"
    assert o[1] * 8 == 4 + len(key) + o[2]
    at, k = ndopt.parse_hk_request(o, 0, 168)
    assert at == 1 and bytes(k) == key
    bad = bytearray(o)
    bad[3] = 0x0F                      # reserved bits are ignored
    assert ndopt.parse_hk_request(bad, 0, 168)[0] == 0


def test_hk_reply_rfc5269_layout():
    enc = bytes(range(128))            # 6 + 128 = 134 -> Length 17, Pad Length 2
    o = ndopt.hk_reply(0, 3600, enc)
    assert len(o) == 136 and o[:6] == bytes((28, 17, 2, 0, 0x0E, 0x10))
    assert o[6:134] == enc and o[1] * 8 == 6 + len(enc) + o[2]
    at, life, e = ndopt.parse_hk_reply(o, 0, 136)
    assert (at, life, bytes(e)) == (0, 3600, enc)
    bad = bytearray(o)
    bad[2] = 131
    raises(ParseError, ndopt.parse_hk_reply, bad, 0, 136)


def test_cps_cpa():
    c = certpath.Cps.emit(0x1234, options=ndopt.trust_anchor(1, b"\x30\x00"))
    assert bytes(c[:8]) == bytes.fromhex("940000001234ffff")
    p = certpath.parse(c)
    assert p.type == 148 and p.identifier == 0x1234 and p.component == 0xFFFF and p.opts[0][0] == 15
    a = certpath.Cpa.emit(0x1234, 2, 1, ndopt.certificate(b"\x30\x00"))
    assert bytes(a[:12]) == bytes.fromhex("950000001234000200010000")
    p = certpath.parse(a)
    assert (p.identifier, p.all_components, p.component) == (0x1234, 2, 1) and p.opts == [(16, 12, 20)]
    raises(ParseError, certpath.parse, a[:11])
    raises(ParseError, certpath.parse, fmip.RtSolPr.emit(1))


def test_fbu_layout_badf_and_alt_coa():
    m, off = mh.Fbu.emit(0x0102, 60, alt_coa=NCOA)
    # header: proto 59, len, type 8; seq; A|H; lifetime
    assert m[0] == 59 and m[2] == 8 and m[6:12] == b"\x01\x02\xc0\x00\x00\x3c"
    assert len(m) % 8 == 0 and m[1] == len(m) // 8 - 1
    assert m[12:14] == b"\x01\x00" and m[14:16] == b"\x03\x10" and m[16:32] == NCOA  # PadN(2), Alt CoA at 8n+6
    b = off - 6
    assert m[b] == 21 and m[b + 1] == 16 and m[b + 2:b + 6] == bytes(4) and off + 12 == len(m)
    p = mh.parse(m)
    assert (p.type, p.seq, p.flags, p.lifetime) == (8, 0x0102, 0xC000, 60)
    assert bytes(p.alt_coa) == NCOA and p.badf == (0, off, len(m))


def test_badf_both_length_readings():
    m, off = mh.Fbu.emit(1, 10, auth_len=16, spi=7)
    assert len(m) % 8 == 0 and off + 16 == len(m)
    assert mh.parse(m).badf == (7, off, len(m))
    rfc = bytearray(m)
    rfc[off - 5] = 16                  # Option Length = Authenticator only (RFC 5568 literal)
    assert mh.parse(rfc).badf == (7, off, len(m))
    rfc[off - 5] = 15
    raises(ParseError, mh.parse, rfc)


def test_fback_and_mh_lla():
    m, off = mh.Fback.emit(1, 0x0102, 30, k=True, alt_coa=NCOA)
    p = mh.parse(m)
    assert (p.type, p.status, p.k, p.seq, p.lifetime) == (9, 1, True, 0x0102, 30)
    assert bytes(p.alt_coa) == NCOA and p.badf[1] == off
    m, off = mh.Fbu.emit(3, 5, lla=b"\x02\x00\x00\x00\x00\x09", auth_len=0)
    p = mh.parse(m)
    assert bytes(p.lla) == b"\x02\x00\x00\x00\x00\x09" and p.badf is None and off == -1
    raises(ParseError, mh.parse, m[:-8])
    bad = bytearray(m)
    bad[2] = 5
    raises(ParseError, mh.parse, bad)


def test_mac_data():
    m, off = mh.Fbu.emit(9, 40, alt_coa=NCOA)
    m[4] = 0xAB
    d = mh.mac_data(m, off, NCOA, DST)
    assert bytes(d[:32]) == NCOA + DST and len(d) == 32 + off
    assert d[36:38] == b"\x00\x00" and bytes(d[38:]) == bytes(m[6:off])


def test_home_address_option_and_packet():
    h = mh.hao(135, HOME)
    assert len(h) == 24 and h[6] == 0xC9 and h[7] == 16 and (2 + 4) % 8 == 6
    nh, home, n = mh.parse_dstopts(h)
    assert nh == 135 and bytes(home) == HOME and n == 24
    m, off = mh.Fbu.emit(1, 10)
    pkt = mh.packet(NCOA, DST, m, home=HOME)
    ip, home, p = mh.parse_packet(pkt)
    assert ip.nh == 60 and bytes(home) == HOME and p.seq == 1
    assert mh.checksum_ok(p, ip.src, ip.dst, home)
    assert not mh.checksum_ok(p, ip.src, ip.dst)
    bad = bytearray(h)
    bad[2] = 0x81                      # unknown option whose action bits say discard
    raises(ParseError, mh.parse_dstopts, bad)
