# What goes on the wire, checked by a dissector nobody here wrote: tshark (Wireshark 4.0).
import hashlib
import json
import shutil
import struct
import subprocess
import sys

import pytest

import pcap
from fmipkey import send
from fmipkey.wire import fmip, icmp6, mh, ndopt
from fmipkey.clock import at as now_at

sys.path.insert(0, __file__.rsplit("/", 1)[0] + "/fw")
from test_send_verify import AR, NOW, key, node  # noqa: E402  (static keys, CGA of the fw tests)

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")

HOME = bytes.fromhex("20010db8000000010000000000000010")
NCOA = bytes.fromhex("20010db8000000020000000000000010")
PCOA = bytes.fromhex("20010db8000000030000000000000010")   # the MN's care-of address, not HOME
QUIRK = "Unknown Data (not interpreted)"     # docs/interop.md: HK Request/Reply padding quirk


def flatten(node, out):
    """Every (field, value) in tshark's JSON tree, duplicates kept as lists."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, (dict, list)):
                if isinstance(v, list) and v and not isinstance(v[0], (dict, list)):
                    out.setdefault(k, []).extend(v)
                else:
                    flatten(v, out)
            else:
                out.setdefault(k, []).append(v)
    elif isinstance(node, list):
        for v in node:
            flatten(v, out)
    return out


def dissect(tmp_path, packets):
    f = tmp_path / "f.pcap"
    pcap.write(str(f), [pcap.ethernet(p) for p in packets])
    out = subprocess.run(["tshark", "-r", str(f), "-T", "json", "--no-duplicate-keys",
                          "-o", "ip.check_checksum:TRUE"],
                         capture_output=True, text=True, check=True).stdout
    return [flatten(fr["_source"]["layers"], {}) for fr in json.loads(out)]


def field_in_order(tmp_path, packet, name):
    # -T json merges same-named siblings, losing their order; -T fields lists them in wire order
    f = tmp_path / "o.pcap"
    pcap.write(str(f), [pcap.ethernet(packet)])
    out = subprocess.run(["tshark", "-r", str(f), "-T", "fields", "-e", name],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().split(",")


def mh_checksum(src, dst, m):
    # RFC 1071 sum computed here word by word over the RFC 6275 6.1.1 pseudo-header (Next Header
    # 135; RFC 3775 prints 2) and the MH with its checksum field as zero
    data = src + dst + struct.pack(">I3xB", len(m), 135) + m[:4] + b"\0\0" + m[6:]
    s = sum(struct.unpack(">%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def handover_key_exchange():
    priv, spki, params, mn = node()
    body = fmip.RtSolPr.emit(0x1234, ndopt.fmip_lla(1, b"\x00\x11\x22\x33\x44\x55") + ndopt.hk_request(1, spki))
    sol = send.message(mn, AR, body, priv, cga_params=params, now=now_at(NOW), nonce=b"NONCE1")
    rpriv, rspki = key("rsa1024_b.pem")
    body = fmip.PrRtAdv.emit(2, 0x1234, ndopt.fmip_lla(5, b"\x00\x11\x22\x33\x44\x55")
                        + ndopt.hk_reply(1, 3600, bytes(range(128))))
    adv = send.message(AR, mn, body, rpriv, spki=rspki, now=now_at(NOW + 1), nonce=b"NONCE1")
    return (icmp6.ipv6_header(mn, AR, 58, len(sol)) + bytes(sol),
            icmp6.ipv6_header(AR, mn, 58, len(adv)) + bytes(adv), len(spki))


def test_signed_rtsolpr_and_prrtadv(tmp_path):
    sol, adv, keylen = handover_key_exchange()
    f1, f2 = dissect(tmp_path, [sol, adv])
    for f in (f1, f2):
        assert f["icmpv6.type"] == ["154"] and f["icmpv6.checksum.status"] == ["1"]
        assert f["icmpv6.fmip6.identifier"] == [str(0x1234)]
        assert f["icmpv6.opt.nonce"] == ["4e:4f:4e:43:45:31"]
        assert f["_ws.expert.message"] == [QUIRK]      # the known quirk, once, and nothing else
    assert f1["icmpv6.code"] == ["0"] and f1["icmpv6.fmip6.subtype"] == ["2"]
    assert f1["icmpv6.opt.type"] == ["19", "27", "11", "13", "14", "12"]
    assert f1["icmpv6.opt.length"][1] == str((4 + keylen + 7) // 8)
    assert f1["icmpv6.opt.hkr.at"] == ["1"] and f1["icmpv6.opt.hkr.pad_length"] == [str(-(4 + keylen) % 8)]
    assert len(f1["icmpv6.opt.hkr.encryption_public_key"][0].split(":")) == keylen
    assert f1["icmpv6.opt.timestamp"] == ["Nov 14, 2023 22:13:20.000000000 UTC"]
    kh = hashlib.sha1(node()[1]).digest()[:16]        # RFC 3971 5.2: leftmost 128 bits of SHA-1(SPKI)
    assert f1["icmpv6.opt.rsa.key_hash"] == [":".join("%02x" % b for b in kh)]
    assert f2["icmpv6.code"] == ["2"] and f2["icmpv6.fmip6.subtype"] == ["3"]
    assert f2["icmpv6.opt.type"] == ["19", "28", "13", "14", "12"]
    assert f2["icmpv6.opt.hkr.lifetime"] == ["3600"] and f2["icmpv6.opt.hkr.at"] == ["1"]
    assert len(f2["icmpv6.opt.hkr.encrypted_handover_key"][0].split(":")) == 128
    assert f2["icmpv6.opt.timestamp"] == ["Nov 14, 2023 22:13:21.000000000 UTC"]


def test_bad_checksum_is_flagged(tmp_path):
    sol, adv, _ = handover_key_exchange()
    bad = bytearray(sol)
    bad[42] ^= 0xFF
    (f,) = dissect(tmp_path, [bytes(bad)])
    assert f["icmpv6.checksum.status"] == ["0"]


def test_fbu_with_badf_and_home_address_and_fback(tmp_path):
    fbu, off = mh.Fbu.emit(5, 60, alt_coa=NCOA)
    fbu[off:off + 12] = bytes(range(1, 13))
    p1 = mh.packet(PCOA, AR, fbu, home=HOME)      # sent from the care-of address
    fback, off = mh.Fback.emit(0, 5, 60)
    p2 = mh.packet(AR, NCOA, fback)
    f1, f2 = dissect(tmp_path, [p1, p2])
    assert "_ws.expert.message" not in f1 and "_ws.expert.message" not in f2
    assert f1["ipv6.nxt"][0] == "60" and f1["ipv6.opt.type"] == ["0x01", "0xc9"]
    assert f1["ipv6.opt.length"] == ["2", "16"] and f1["ipv6.opt.mipv6.home_address"] == ["2001:db8:0:1::10"]
    assert f1["mip6.mhtype"] == ["8"] and f1["mip6.fbu.seqnr"] == ["5"] and f1["mip6.fbu.lifetime"] == ["60"]
    assert f1["mip6.fbu.a_flag"] == ["1"] and f1["mip6.fbu.h_flag"] == ["1"]
    assert f1["mip6.acoa.acoa"] == ["2001:db8:0:2::10"] and f1["mip6.badff.spi"] == ["0"]
    # the BADF option length holds SPI + authenticator; tshark shows 2 octets less (docs/interop.md)
    # options in order: PadN (0), Alternate CoA (16), PadN (4), BADF (4 + 12)
    assert field_in_order(tmp_path, p1, "mip6.mobility_opt.len") == ["0", "16", "4", "16"]
    assert f1["mip6.badff.auth"] == ["01:02:03:04:05:06:07:08:09:0a"]
    assert f1["ipv6.src"] == ["2001:db8:0:3::10"]
    # the Home Address, not the source, is the pseudo-header source (RFC 6275 6.1.1, 9.3.1)
    assert int(f1["mip6.csum"][0], 16) == mh_checksum(HOME, AR, bytes(fbu))
    assert f2["mip6.mhtype"] == ["9"] and f2["mip6.fback.status"] == ["0"] and f2["mip6.fback.seqnr"] == ["5"]
    assert int(f2["mip6.csum"][0], 16) == mh_checksum(AR, NCOA, bytes(fback))
