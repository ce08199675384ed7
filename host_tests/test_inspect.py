# fmipkey inspect: messages from captures, checked at capture time. The SEND message of
# another implementation is assembled here from the RFC text and signed by `cryptography`;
# the handover exchange is built from the firmware's codecs with keys from `cryptography`.
import datetime
import hashlib
import json
import re
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa as crsa
from cryptography.x509.oid import NameOID

import pcap
from fmipkey import badf, send
from fmipkey.crypto import cga, der, rsa
from fmipkey.wire import certpath, fmip, icmp6, mh, ndopt
from fmipkey_tools.inspect import JSON_HELP, cli
from test_send_interop import TAG, cga_address, opt, with_csum
from fmipkey.clock import at as now_at

DATA = Path(__file__).parent / "fw" / "data"
T0 = 1700000000
ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")
AR = bytes.fromhex("fe800000000000000000000000000001")
NCOA = bytes.fromhex("20010db8000000020000000000000010")


def write_pcap(path, packets, linktype=1, big_endian=False, nano=False):
    """Classic pcap of (time, frame) records, in either byte order and time resolution."""
    bo = ">" if big_endian else "<"
    with open(path, "wb") as f:
        f.write(struct.pack(bo + "IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for t, fr in packets:
            sec = int(t)
            f.write(struct.pack(bo + "IIII", sec, round((t - sec) * (1e9 if nano else 1e6)), len(fr), len(fr)) + fr)
    return str(path)


def inspect(*args):
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.output
    return r


def records(*args):
    r = inspect(*args, "--json")
    return r.exit_code, json.loads(r.output)


def results(rec):
    return {k: v["result"] for k, v in rec["checks"].items()}


# --- a Router Advertisement signed by "another implementation" ---------------------------

def rfc_ra(ts, key=None):
    """RFC 4861 4.2 RA from a Sec 0 CGA with CGA, Timestamp, Nonce and RSA Signature options
    (RFC 3971 5.1-5.3), checksum inside the signature per docs/interop.md."""
    key = key or crsa.generate_private_key(65537, 1024)
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    params = bytes(range(16)) + bytes.fromhex("fe80000000000000") + b"\x00" + spki
    src = cga_address(params)
    pad = -(4 + len(params)) % 8
    cga_opt = bytes((11, (4 + len(params) + pad) // 8, pad, 0)) + params + bytes(pad)
    msg = (struct.pack(">BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0) + cga_opt
           + opt(13, bytes(6) + struct.pack(">Q", ts << 16)) + opt(14, b"\x01\x02\x03\x04\x05\x06"))
    msg = with_csum(src, ALL_NODES, msg)
    sig = key.sign(TAG + src + ALL_NODES + msg, padding.PKCS1v15(), hashes.SHA1())
    msg = with_csum(src, ALL_NODES, msg + opt(12, b"\0\0" + hashlib.sha1(spki).digest()[:16] + sig))
    return struct.pack(">IHBB", 0x60000000, len(msg), 58, 255) + src + ALL_NODES + msg


def test_third_party_signed_ra_verifies(tmp_path):
    f = write_pcap(tmp_path / "ra.pcap", [(T0 + 0.5, pcap.ethernet(rfc_ra(T0)))])
    code, (rec,) = records(f)
    assert code == 0 and rec["message"] == "RA" and rec["secured"] and rec["verdict"] == "ok"
    assert results(rec) == {"checksum": "ok", "hop_limit": "ok", "cga": "ok", "signature": "ok", "timestamp": "ok"}
    assert rec["checks"]["cga"]["detail"] == "Sec 0" and rec["fields"]["nonce"] == "010203040506"
    assert rec["fields"]["router_lifetime"] == 1800 and rec["hop_limit"] == 255
    assert rec["options"] == ["CGA", "Timestamp", "Nonce", "RSA Signature"]
    out = inspect(f)                                      # the readable table
    assert out.exit_code == 0 and "signature ok" in out.output and "1 messages: 1 ok" in out.output


def test_tampered_ra_fails_and_names_the_check(tmp_path):
    bad = bytearray(rfc_ra(T0))
    bad[40 + 6] ^= 0x01                                   # router lifetime, inside the signed data
    f = write_pcap(tmp_path / "bad.pcap", [(T0, pcap.ethernet(bytes(bad)))])
    code, (rec,) = records(f)
    assert code == 1 and rec["verdict"] == "failed"
    assert rec["checks"]["signature"] == {"result": "failed", "detail": "bad signature"}
    assert rec["checks"]["checksum"]["result"] == "failed" and rec["checks"]["cga"]["result"] == "ok"
    out = inspect(f)
    assert out.exit_code == 1 and "#1 RA: signature failed: bad signature\n" in out.output


def test_timestamp_is_judged_at_capture_time(tmp_path):
    # Authentic but captured 1000 s after it was signed: stale then (and whatever today is).
    f = write_pcap(tmp_path / "late.pcap", [(T0 + 1000, pcap.ethernet(rfc_ra(T0)))])
    code, (rec,) = records(f)
    assert code == 1 and rec["checks"]["signature"]["result"] == "ok"
    assert rec["checks"]["timestamp"]["result"] == "failed"
    assert rec["checks"]["timestamp"]["detail"].startswith("timestamp outside window (-1000.000 s")


def sll(packet):
    return struct.pack(">HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\x01\0\0", 0x86DD) + packet


def sll2(packet):
    return struct.pack(">HHIHBB8s", 0x86DD, 0, 2, 1, 0, 6, b"\x02\0\0\0\0\x01\0\0") + packet


def vlan(packet):
    frame = pcap.ethernet(packet)
    return frame[:12] + b"\x81\x00\x00\x05" + frame[12:]


@pytest.mark.parametrize("linktype,wrap,big,nano", [
    (1, vlan, False, False), (113, sll, False, False), (276, sll2, True, False), (101, bytes, False, True),
    (229, bytes, True, True), (12, bytes, False, False), (14, bytes, False, False)])
def test_link_types_decode_identically(tmp_path, linktype, wrap, big, nano):
    ra = rfc_ra(T0, crsa.generate_private_key(65537, 1024))
    times = (T0 + 0.25, T0 + 2.5)
    ref = records(write_pcap(tmp_path / "eth.pcap", [(t, pcap.ethernet(ra) + bytes(6)) for t in times]))
    got = records(write_pcap(tmp_path / "x.pcap", [(t, wrap(ra)) for t in times], linktype, big, nano))
    assert got == ref and ref[1][0]["time"] == T0 + 0.25 and len(ref[1]) == 2
    assert ref[1][0]["verdict"] == "ok" and ref[1][1]["checks"]["timestamp"]["result"] == "failed"


# --- a whole handover: CPS/CPA, RtSolPr/PrRtAdv with the handover key, FBU/FBack ----------

def pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def fw_key(key):
    return der.parse_private_key(der.pem_decode(pem(key))[0][1])


def ipv6(src, dst, msg):
    return icmp6.ipv6_header(src, dst, icmp6.NH_ICMPV6, len(msg)) + bytes(msg)


HKEY = bytes(range(100, 120))          # the AT 0 handover key the AR hands out


@pytest.fixture(scope="module")
def exchange(tmp_path_factory):
    """(capture, keys dir, packets): an MN bundle and the packets of one handover."""
    d = tmp_path_factory.mktemp("mn")
    mn_k, hk_k = crsa.generate_private_key(65537, 1024), crsa.generate_private_key(65537, 1024)
    (d / "key.pem").write_bytes(pem(mn_k))
    (d / "pool").mkdir()
    (d / "pool" / "hkepk.pem").write_bytes(pem(hk_k))       # found by the recursive search
    (d / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    mn_priv, hk_priv = fw_key(mn_k), fw_key(hk_k)
    params = cga.encode(bytes(16), bytes.fromhex("fe80000000000000"), 0, der.encode_spki(mn_priv.public))
    mn = cga.address(params, 0)
    ar_priv = der.parse_private_key(der.pem_decode((DATA / "rsa1024_a.pem").read_text())[0][1])
    ar_spki = der.encode_spki(ar_priv.public)                 # the key of cert_router.der
    certs = [(DATA / n).read_bytes() for n in ("cert_router.der", "cert_ca.der")]
    cps = certpath.Cps.emit(9)
    icmp6.set_checksum(cps, mn, AR)
    pk = [(T0, ipv6(mn, AR, cps))]
    for i, c in enumerate(certs):
        cpa = send.message(AR, mn, certpath.Cpa.emit(9, 2, i, ndopt.certificate(c)), ar_priv, spki=ar_spki, now=now_at(T0))
        pk.append((T0 + 0.01 * (i + 1), ipv6(AR, mn, cpa)))
    sol = send.message(mn, AR, fmip.RtSolPr.emit(0x1234, ndopt.hk_request(0, der.encode_spki(hk_priv.public))),
                       mn_priv, cga_params=params, now=now_at(T0 + 1), nonce=b"NONCE1")
    pk.append((T0 + 1, ipv6(mn, AR, sol)))
    reply = ndopt.hk_reply(0, 3600, rsa.encrypt(hk_priv.public, HKEY))
    adv = send.message(AR, mn, fmip.PrRtAdv.emit(2, 0x1234, reply), ar_priv, spki=ar_spki, now=now_at(T0 + 1), nonce=b"NONCE1")
    pk.append((T0 + 1.1, ipv6(AR, mn, adv)))
    fbu, off = mh.Fbu.emit(5, 60, alt_coa=NCOA, auth_len=badf.auth_len(0))
    badf.sign(HKEY, 0, fbu, off, NCOA, AR)
    pk.append((T0 + 2, mh.packet(mn, AR, fbu, home=mn, hlim=255)))
    fback, off = mh.Fback.emit(0, 5, 60, auth_len=badf.auth_len(0))
    badf.sign(HKEY, 0, fback, off, NCOA, AR)
    pk.append((T0 + 2.1, mh.packet(AR, NCOA, fback)))
    cap = write_pcap(d / "handover.pcap", [(t, pcap.ethernet(p)) for t, p in pk])
    return cap, d, pk


def test_exchange_without_keys_or_anchor_is_unchecked_not_failed(exchange):
    cap, _, _ = exchange
    code, recs = records(cap)
    assert code == 0
    assert [r["message"] for r in recs] == ["CPS", "CPA", "CPA", "RtSolPr", "PrRtAdv", "FBU", "FBack"]
    cps, cpa, _, sol, adv, fbu, fback = recs
    assert not cps["secured"] and cps["verdict"] == "ok" and cpa["fields"]["certificates"] == ["router1"]
    assert recs[2]["fields"]["certificates"] == ["Test CA"]
    assert cpa["checks"]["path"]["result"] == "unchecked" and cpa["checks"]["identifier"]["result"] == "ok"
    assert cpa["checks"]["signature"] == {"result": "ok", "detail": "key of a certificate seen in a CPA"}
    assert results(sol)["cga"] == "ok" and sol["fields"]["hk_request_at"] == 0 and sol["fields"]["nonce"] == "4e4f4e434531"
    assert results(adv)["signature"] == "ok" and results(adv)["nonce"] == "ok"
    assert adv["handover_key"] == {"at": 0, "lifetime": 3600, "key": None}
    assert adv["checks"]["handover_key"]["result"] == "unchecked"
    assert fbu["fields"]["home"] == sol["src"] and fbu["fields"]["alt_coa"] == "2001:db8:0:2::10"
    assert fbu["checks"]["badf"]["result"] == "unchecked" and fback["checks"]["badf"]["result"] == "unchecked"
    assert fbu["fields"]["flags"] == "AH" and fback["fields"]["status"] == 0


def test_keys_decrypt_the_reply_and_check_badfs(exchange):
    cap, keys, _ = exchange
    code, recs = records(cap, "--keys", keys, "--trust-anchor", DATA / "cert_root.der")
    assert code == 0, [(r["message"], r["checks"]) for r in recs if r["verdict"] != "ok"]
    assert all(r["verdict"] == "ok" for r in recs)
    adv, fbu, fback = recs[4:]
    assert adv["handover_key"]["key"] == HKEY.hex()
    assert adv["checks"]["handover_key"]["detail"] == "decrypted with pool/hkepk.pem"
    assert fbu["checks"]["badf"]["result"] == "ok" and fback["checks"]["badf"]["result"] == "ok"
    assert recs[1]["checks"]["path"] == {"result": "ok", "detail": "router1, valid at capture time"}
    out = inspect(cap, "--keys", keys)
    assert out.exit_code == 0 and "#5 PrRtAdv handover key %s\n" % HKEY.hex() in out.output


def test_forged_badf_fails(exchange, tmp_path):
    cap, keys, pk = exchange
    t, fbu = pk[5]
    bad = bytearray(fbu)
    bad[-1] ^= 0x80                                       # last octet of the Authenticator
    f = write_pcap(tmp_path / "forged.pcap", [(t, pcap.ethernet(p)) for t, p in pk[:5] + [(t, bytes(bad))]])
    code, recs = records(f, "--keys", keys)
    assert code == 1 and recs[5]["checks"]["badf"]["result"] == "failed"
    assert recs[5]["checks"]["checksum"]["result"] == "failed"


def test_wrong_trust_anchor_fails_the_path(exchange, tmp_path):
    cap, _, _ = exchange
    k = crsa.generate_private_key(65537, 1024)
    name = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, "Test Root")])   # same name, other key
    root = (cx509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
            .serial_number(1).not_valid_before(datetime.datetime(2020, 1, 1))
            .not_valid_after(datetime.datetime(2040, 1, 1))
            .add_extension(cx509.BasicConstraints(ca=True, path_length=None), critical=True).sign(k, hashes.SHA256()))
    (tmp_path / "other.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    code, recs = records(cap, "--trust-anchor", tmp_path / "other.pem")
    assert code == 1
    for cpa in recs[1:3]:
        assert cpa["checks"]["path"] == {"result": "failed", "detail": "certificate 1 (Test CA): bad signature"}
    out = inspect(cap, "--trust-anchor", tmp_path / "other.pem")
    assert out.exit_code == 1 and "#2 CPA: path failed: certificate 1 (Test CA): bad signature\n" in out.output


def test_replayed_rtsolpr_is_flagged(exchange, tmp_path):
    cap, keys, pk = exchange
    f = write_pcap(tmp_path / "replay.pcap", [(t, pcap.ethernet(p)) for t, p in pk + [(T0 + 30, pk[3][1])]])
    code, recs = records(f, "--keys", keys)
    assert code == 1 and all(r["verdict"] != "failed" for r in recs[:-1])
    replay = recs[-1]
    assert replay["message"] == "RtSolPr" and results(replay)["signature"] == "ok"
    assert replay["checks"]["timestamp"]["result"] == "failed"
    assert replay["checks"]["timestamp"]["detail"].startswith("timestamp older than last accepted")


def test_prrtadv_with_another_nonce_fails(exchange, tmp_path):
    cap, _, pk = exchange
    ar_priv = der.parse_private_key(der.pem_decode((DATA / "rsa1024_a.pem").read_text())[0][1])
    mn = pk[3][1][8:24]
    adv = send.message(AR, mn, fmip.PrRtAdv.emit(2, 0x1234), ar_priv, spki=der.encode_spki(ar_priv.public),
                       now=now_at(T0 + 1), nonce=b"OTHER1")
    f = write_pcap(tmp_path / "n.pcap", [(t, pcap.ethernet(p)) for t, p in pk[:4] + [(T0 + 1, ipv6(AR, mn, adv))]])
    code, recs = records(f)
    assert code == 1 and recs[4]["checks"]["nonce"] == {"result": "failed", "detail": "nonce mismatch"}
    assert recs[4]["checks"]["signature"]["result"] == "ok"


# --- JSON and errors ---------------------------------------------------------------------

def test_json_records_have_the_documented_fields(exchange):
    _, recs = records(exchange[0])
    fields = {"index", "time", "src", "dst", "size", "hop_limit", "message", "fields", "options", "handover_key",
              "secured", "checks", "verdict"}
    assert [f for f in fields if not re.search(r"\b%s\b" % f, JSON_HELP)] == []     # all in --help
    for i, r in enumerate(recs, 1):
        assert set(r) == fields and r["index"] == i
        for c in r["checks"].values():
            assert set(c) == {"result", "detail"} and c["result"] in ("ok", "failed", "unchecked")
    assert recs[0]["size"] == len(exchange[2][0][1]) and recs[0]["src"].startswith("fe80::")


def test_errors_say_what_to_do(tmp_path):
    r = inspect(tmp_path / "nope.pcap")
    assert r.exit_code == 2 and "no such file" in r.output
    (tmp_path / "t.txt").write_text("hello, this is not a capture at all")
    r = inspect(tmp_path / "t.txt")
    assert r.exit_code == 2 and "not a pcap file" in r.output and "tcpdump -w" in r.output
    (tmp_path / "n.pcapng").write_bytes(struct.pack("<II", 0x0A0D0D0A, 28) + bytes(20))
    r = inspect(tmp_path / "n.pcapng")
    assert r.exit_code == 2 and "editcap -F pcap" in r.output
    r = inspect(write_pcap(tmp_path / "w.pcap", [(T0, b"\0" * 30)], linktype=105))
    assert r.exit_code == 2 and "link type 105 is not supported" in r.output
    ok = write_pcap(tmp_path / "ok.pcap", [])
    (tmp_path / "empty").mkdir()
    r = inspect(ok, "--keys", tmp_path / "empty")
    assert r.exit_code == 2 and "no PEM private key" in r.output
    r = inspect(ok, "--trust-anchor", tmp_path / "t.txt")
    assert r.exit_code == 2 and "--trust-anchor" in r.output and "PEM or DER" in r.output
    assert "Traceback" not in r.output


def test_real_access_router_and_mobile_node(tmp_path):
    # The engines themselves over an in-memory link, every packet captured when delivered.
    import shutil
    from fakear import NCOA as NCOA2, anchors, cfg, chain, identity, pool
    from fmipkey import config
    from fmipkey.ar import AccessRouter
    from fmipkey.keystore import KeyStore
    from fmipkey.mn import MobileNode
    ar_id = identity("rsa1024_a.pem")                    # the key cert_router.der certifies
    ar = AccessRouter(cfg(role="ar"), ar_id, list(reversed(chain())), KeyStore(bytes(32)))
    mn = MobileNode(cfg(at=1, router=config.format_addr(ar_id.addr)), identity("rsa1024_b.pem", modifier=b"\x02" * 16),
                    anchors(), pool())
    cap, now = [], float(T0)

    def run(out, now):
        while out:
            back = []
            for p in out:
                cap.append((now, p))
                back.extend(ar.handle(p, now_at(now)))
            now += 0.01
            out = []
            for p in back:
                cap.append((now, p))
                out.extend(mn.handle(p, now_at(now)))
            now += 0.01
        return now

    now = run(mn.start(now_at(now)), now)
    now = run(mn.fbu(ar.addr, NCOA2, now_at(now + 1)), now + 1)
    assert mn.state == "done", mn.events
    keys = tmp_path / "mn"
    keys.mkdir()
    for n in ("rsa2048_a.pem", "rsa1024_pkcs8.pem"):        # the MN's HKEPK pool, PKCS#1 and PKCS#8
        shutil.copy(DATA / n, keys / n)
    f = write_pcap(tmp_path / "engines.pcap", [(t, pcap.ethernet(p)) for t, p in cap])
    code, recs = records(f, "--keys", keys, "--trust-anchor", DATA / "cert_root.der")
    assert code == 0 and all(r["verdict"] == "ok" for r in recs), [(r["message"], r["checks"]) for r in recs]
    names = [r["message"] for r in recs]
    assert names[0] == "CPS" and names.count("CPA") == 2 and names[-4:] == ["RtSolPr", "PrRtAdv", "FBU", "FBack"]
    adv = recs[-3]
    assert adv["checks"]["signature"]["detail"] == "CGA key, certified in a CPA"
    assert adv["handover_key"]["key"] == mn.keys[(ar.addr, mn.addr)].key.hex() and adv["handover_key"]["at"] == 1
    assert recs[-2]["checks"]["badf"]["result"] == "ok" and recs[-1]["checks"]["badf"]["result"] == "ok"


def test_malformed_nd_fails_other_mobility_headers_do_not(tmp_path):
    ra = bytearray(rfc_ra(T0))
    ra[40 + 16 + 1] = 200                                 # CGA option length overruns the message
    bu = bytearray(mh.Fbu.emit(1, 60, auth_len=0)[0])
    bu[2] = 5                                             # a Mobile IPv6 Binding Update
    f = write_pcap(tmp_path / "m.pcap", [(T0, pcap.ethernet(bytes(ra))), (T0, pcap.ethernet(mh.packet(NCOA, AR, bu)))])
    code, (bad, other) = records(f)
    assert code == 1 and bad["message"] == "RA" and bad["checks"]["decode"]["result"] == "failed"
    assert "overruns" in bad["checks"]["decode"]["detail"]
    assert other["checks"]["decode"]["result"] == "unchecked" and other["verdict"] == "unchecked"
    f = write_pcap(tmp_path / "bu.pcap", [(T0, pcap.ethernet(mh.packet(NCOA, AR, bu)))])
    assert records(f)[0] == 0


def test_truncated_capture_decodes_the_complete_records(tmp_path):
    f = write_pcap(tmp_path / "cut.pcap", [(T0 + 0.5, pcap.ethernet(rfc_ra(T0))), (T0 + 1, pcap.ethernet(rfc_ra(T0)))])
    data = Path(f).read_bytes()
    Path(f).write_bytes(data[:-40])                       # the capture was cut off inside the 2nd record
    r = inspect(f, "--json")
    assert r.exit_code == 0, r.output
    (rec,) = json.loads(r.stdout)
    assert rec["message"] == "RA" and rec["verdict"] == "ok"
    assert "ends in a truncated record at offset" in r.stderr and "decoded the 1 complete records" in r.stderr


def test_a_capture_without_relevant_packets_says_so(tmp_path):
    ipv4 = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x00" + bytes(40)
    p = write_pcap(tmp_path / "web.pcap", [(T0, ipv4), (T0 + 1, ipv4)])
    for args in ((), ("--json",)):
        r = inspect(p, *args)
        assert r.exit_code == 2, r.output
        assert ("nothing to inspect: none of the 2 packets in %s is an ND, SEND, FMIPv6 or Mobility Header message; "
                "capture on the access router's link" % p) in " ".join(r.output.split()), r.output
        assert "Traceback" not in r.output and "[]" not in r.output
