# The MobileNode's packets and keys checked by code nobody here wrote: `cryptography`
# encrypts the handover key and reads the HK Request key; tshark dissects CPS, RtSolPr, FBU.
import shutil

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_der_public_key

from fakear import NCOA, NOW, FakeAR, anchors, cfg, identity, key, pool
from fmipkey import config
from fmipkey.mn import MobileNode
from fmipkey.wire import fmip, ndopt
from test_tshark import QUIRK, dissect, mh_checksum
from fmipkey.clock import at as now_at


def requesting(at=0):
    ar = FakeAR()
    mn = MobileNode(cfg(router=config.format_addr(ar.addr), at=at), identity("rsa1024_b.pem"), anchors(), pool())
    cps = mn.start(now_at(NOW))
    for p in ar.cpas(cps[0]):
        out = mn.handle(p, now_at(NOW))
    return ar, mn, cps[0], out[0]


def hk_request(sol):
    m = fmip.parse(memoryview(sol)[40:])
    o = m.find(ndopt.HK_REQUEST)
    return ndopt.parse_hk_request(m.raw, o[0], o[1])


def test_hk_request_key_is_the_pool_key_for_openssl():
    ar, mn, cps, sol = requesting()
    at, spki = hk_request(sol)
    pub = load_der_public_key(bytes(spki))
    want = key("rsa1024_pkcs8.pem").public
    assert (pub.public_numbers().n, pub.public_numbers().e) == (want.n, want.e)


def test_key_encrypted_by_openssl_is_stored():
    ar, mn, cps, sol = requesting(at=1)
    at, spki = hk_request(sol)
    hk = bytes(range(100, 132))
    enc = load_der_public_key(bytes(spki)).encrypt(hk, padding.PKCS1v15())
    adv = ar.prrtadv(sol, enc=enc, lifetime=900)
    mn.handle(adv, now_at(NOW))
    got = mn.keys[(ar.addr, mn.addr)]
    assert (got.key, got.at, got.expiry) == (hk, 1, NOW + 900)
    # and an OAEP ciphertext (another padding) is refused, not mistaken for a key
    ar, mn, cps, sol = requesting()
    spki = hk_request(sol)[1]
    oaep = load_der_public_key(bytes(spki)).encrypt(bytes(20), padding.OAEP(padding.MGF1(hashes.SHA1()),
                                                                              hashes.SHA1(), None))
    mn.handle(ar.prrtadv(sol, enc=oaep), now_at(NOW))
    assert mn.keys == {} and mn.counters["dropped.decrypt"] == 1


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_reads_cps_rtsolpr_fbu(tmp_path):
    ar, mn, cps, sol = requesting()
    mn.handle(ar.prrtadv(sol), now_at(NOW))
    fbu = mn.fbu(ar.addr, NCOA, now_at(NOW))[0]
    f1, f2, f3 = dissect(tmp_path, [cps, sol, fbu])
    assert f1["icmpv6.type"] == ["148"] and f1["icmpv6.checksum.status"] == ["1"]
    assert f1["icmpv6.opt.type"] == ["15"] and "_ws.expert.message" not in f1
    assert f2["icmpv6.type"] == ["154"] and f2["icmpv6.fmip6.subtype"] == ["2"]
    assert f2["icmpv6.checksum.status"] == ["1"] and f2["icmpv6.opt.type"] == ["19", "27", "11", "13", "14", "12"]
    assert f2["icmpv6.opt.hkr.at"] == ["0"] and f2["_ws.expert.message"] == [QUIRK]
    assert "_ws.expert.message" not in f3
    assert f3["ipv6.opt.mipv6.home_address"] == [config.format_addr(mn.addr)]
    assert f3["mip6.mhtype"] == ["8"] and f3["mip6.fbu.a_flag"] == ["1"] and f3["mip6.fbu.h_flag"] == ["1"]
    assert f3["mip6.acoa.acoa"] == [config.format_addr(NCOA)] and f3["mip6.badff.spi"] == ["0"]
    mh_bytes = fbu[40 + 24:]
    assert int(f3["mip6.csum"][0], 16) == mh_checksum(mn.addr, ar.addr, bytes(mh_bytes))
