"""fmipkey provision: the bundle the firmware loads, and refusals that say what is wrong."""
import json
import stat
import time

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding

from conftest import created_private
from fmipkey import config, identity
from fmipkey.crypto import cga, rsa, x509
from fmipkey_tools import nvs, pki
from fmipkey_tools.cli import main
from fmipkey_tools.sim import find_cga

LL = bytes.fromhex("fe80000000000000")
P1 = config.parse_prefix("2001:db8:1::/64")


def run(*args):
    return CliRunner().invoke(main, ["provision"] + [str(a) for a in args])


def write_key(path, key):
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """PKI from `fmipkey pki`, an AR key with a link-local Sec 1 CGA, an MN key with a global Sec 1 CGA."""
    d = tmp_path_factory.mktemp("in")
    pc = CliRunner()
    for args in (("init", "--out", d / "ca", "--prefix", "2001:db8::/32", "--bits", 1024),
                 ("router", "--ca", d / "ca", "--out", d / "r", "--prefix", "2001:db8:1::/64"),
                 ("router", "--ca", d / "ca", "--out", d / "r2", "--prefix", "2001:db8:9::/64")):
        r = pc.invoke(pki.cli, [str(a) for a in args])
        assert r.exit_code == 0, r.output
    rkey = serialization.load_pem_private_key((d / "r" / "router-key.pem").read_bytes(), None)
    (d / "ar.cga").write_bytes(find_cga(rkey, LL, 1))
    (d / "ar-global.cga").write_bytes(find_cga(rkey, config.parse_prefix("2001:db8:7::/64"), 0))
    mkey = pki.new_key(1024)
    write_key(d / "mn.pem", mkey)
    (d / "mn.cga").write_bytes(find_cga(mkey, P1, 1))
    return d


def ar_args(d, out, **kw):
    a = {"--role": "ar", "--out": out, "--key": d / "r" / "router-key.pem", "--cga": d / "ar.cga", "--sec": 1,
         "--certs": d / "r" / "router-chain.pem", "--anchor": d / "ca" / "ca-cert.pem", "--prefix": "2001:db8:1::/64",
         "--interface": "br-lan", "--at": 1}
    a.update(kw)
    return [x for k, v in a.items() if v is not None for x in (k, v)]


def mn_args(d, out, **kw):
    a = {"--role": "mn", "--out": out, "--key": d / "mn.pem", "--cga": d / "mn.cga", "--sec": 1,
         "--anchor": d / "ca" / "ca-cert.pem", "--prefix": "2001:db8:1::/64", "--hkepk-count": 3}
    a.update(kw)
    return [x for k, v in a.items() if v is not None for x in (k, v)]


def test_ar_bundle(inputs, tmp_path):
    out = tmp_path / "ar"
    r = run(*ar_args(inputs, out), "--neighbor", "02:00:00:00:02:00,02:00:00:00:02:01,2001:db8:2::1,2001:db8:2::/64")
    assert r.exit_code == 0, r.output
    cfg = config.load(str(out / "config.json"))
    assert cfg["role"] == "ar" and cfg["cga_sec"] == 1 and cfg["at"] == 1 and cfg["interface"] == "br-lan"
    assert cfg["neighbors"][0]["nar_addr"] == "2001:db8:2::1"
    assert sorted(p.name for p in out.iterdir()) == ["certs.pem", "cga.der", "config.json", "device.key", "key.pem"]
    assert len((out / "device.key").read_bytes()) == 32
    assert stat.S_IMODE((out / "device.key").stat().st_mode) == 0o600
    ident = identity.load(str(out), cfg)
    assert ident.addr[:8] == LL and cga.verify(ident.addr, ident.cga_params) == 1
    assert config.format_addr(ident.addr) in r.output
    certs = identity.certificates(str(out), cfg["certs_file"])
    assert certs[0].public_key == ident.key.public        # router certificate first, for the CGA key
    anchor = identity.certificates(str(inputs / "ca"), "ca-cert.pem")
    assert x509.validate_path(certs, anchor, time.time()) is not None


def test_mn_bundle_and_hkepk_pool(inputs, tmp_path):
    out = tmp_path / "mn"
    r = run(*mn_args(inputs, out), "--router", "fe80::1")
    assert r.exit_code == 0, r.output
    cfg = config.load(str(out / "config.json"))
    assert cfg["role"] == "mn" and cfg["router"] == "fe80::1"
    assert sorted(p.name for p in out.iterdir()) == ["anchors.pem", "cga.der", "config.json", "hkepk.pem", "key.pem"]
    ident = identity.load(str(out), cfg)
    pool = identity.private_keys(str(out), cfg["hkepk_file"])
    assert len(pool) == 3 and len(set(k.public.n for k in pool)) == 3
    assert all(k.size == ident.key.size and k.public != ident.key.public for k in pool)
    # each pair really is a key pair: cryptography encrypts to it, the firmware decrypts
    pems = serialization.load_pem_private_key
    first = (out / "hkepk.pem").read_bytes().split(b"-----END RSA PRIVATE KEY-----")[0] + b"-----END RSA PRIVATE KEY-----\n"
    ct = pems(first, None).public_key().encrypt(b"handover", padding.PKCS1v15())
    assert rsa.decrypt(pool[0], ct) == b"handover"
    assert identity.certificates(str(out), cfg["anchors_file"])[0].is_ca


@pytest.mark.parametrize("change, message", [
    ({"--cga": "ar-global.cga", "--sec": 1}, "do not give a Sec 1 address"),
    ({"--key": "mn.pem"}, "another public key"),
    ({"--certs": "r2/router-chain.pem"}, "router certificate (first in --certs) is for another key"),
    ({"--prefix": "2001:db8:5::/64"}, "link prefix 2001:db8:5::/64 is not inside the router certificate"),
    ({"--cga": "ar-global.cga", "--sec": 0}, "CGA prefix 2001:db8:7::/64 is not inside the router certificate"),
    ({"--certs": None}, "needs its certification path"),
    ({"--at": 3}, "--at"),
    ({"--interface": ""}, "interface"),
])
def test_ar_refusals(inputs, tmp_path, change, message):
    change = {k: (inputs / v if isinstance(v, str) and v.endswith((".pem", ".cga")) else v) for k, v in change.items()}
    r = run(*ar_args(inputs, tmp_path / "ar", **change))
    assert r.exit_code != 0
    assert message in r.output, r.output
    assert "Traceback" not in r.output and not (tmp_path / "ar" / "config.json").exists()


def test_ar_path_must_reach_the_anchor(inputs, tmp_path):
    other = tmp_path / "other"
    assert CliRunner().invoke(pki.cli, ["init", "--out", str(other), "--prefix", "2001:db8::/32", "--bits", "1024"]).exit_code == 0
    r = run(*ar_args(inputs, tmp_path / "ar", **{"--anchor": other / "ca-cert.pem"}))
    assert r.exit_code != 0 and "does not validate to --anchor" in r.output, r.output


@pytest.mark.parametrize("usage", ["no_eku", "encipherment"])
def test_ar_router_certificate_needs_the_send_profile(inputs, tmp_path, usage):
    # MNs refuse a router certificate without id-kp-sendRouter or digitalSignature (RFC 6494):
    # provisioning an AR with one must say so rather than make a bundle no MN accepts.
    import datetime
    import ipaddress
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    ca_cert = cx509.load_pem_x509_certificate((inputs / "ca" / "ca-cert.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((inputs / "ca" / "ca-key.pem").read_bytes(), None)
    rkey = serialization.load_pem_private_key((inputs / "r" / "router-key.pem").read_bytes(), None)
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (cx509.CertificateBuilder().subject_name(cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, "r")]))
         .issuer_name(ca_cert.subject).public_key(rkey.public_key()).serial_number(9)
         .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=9))
         .add_extension(cx509.UnrecognizedExtension(pki.ID_PE_IP_ADDR_BLOCKS, pki.ip_addr_blocks(
             [ipaddress.IPv6Network("2001:db8:1::/64")])), critical=True))
    if usage == "encipherment":
        b = (b.add_extension(cx509.KeyUsage(False, False, True, False, False, False, False, False, False), critical=True)
             .add_extension(cx509.ExtendedKeyUsage([pki.ID_KP_SEND_ROUTER]), critical=False))
    else:
        b = b.add_extension(cx509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
    (tmp_path / "chain.pem").write_bytes(b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    r = run(*ar_args(inputs, tmp_path / "ar", **{"--certs": tmp_path / "chain.pem", "--anchor": None}))
    assert r.exit_code != 0 and "digitalSignature key usage that MNs require" in r.output, r.output
    assert not (tmp_path / "ar" / "config.json").exists()


def test_mn_refusals(inputs, tmp_path):
    r = run(*mn_args(inputs, tmp_path / "mn", **{"--anchor": None}))
    assert r.exit_code != 0 and "needs a trust anchor" in r.output
    r = run(*mn_args(inputs, tmp_path / "mn", **{"--hkepk-count": 0}))
    assert r.exit_code != 0 and "--hkepk-count" in r.output
    r = run(*mn_args(inputs, tmp_path / "mn", **{"--cga": tmp_path / "nope.der"}))
    assert r.exit_code != 0 and "does not exist" in r.output
    (tmp_path / "junk.der").write_bytes(b"\x00" * 10)
    r = run(*mn_args(inputs, tmp_path / "mn", **{"--cga": tmp_path / "junk.der"}))
    assert r.exit_code != 0 and "not CGA Parameters" in r.output
    r = run(*mn_args(inputs, tmp_path / "mn"), "--certs", inputs / "r" / "router-chain.pem")
    assert r.exit_code != 0 and "--certs is for an AR" in r.output
    assert not (tmp_path / "mn").exists()


def test_neighbor_format(inputs, tmp_path):
    r = run(*ar_args(inputs, tmp_path / "ar"), "--neighbor", "02:00:00:00:02:00,2001:db8:2::1")
    assert r.exit_code != 0 and "ap_id,nar_lla,nar_addr,nar_prefix" in r.output
    r = run(*ar_args(inputs, tmp_path / "ar"), "--neighbor", "zz,02:00:00:00:02:01,2001:db8:2::1,2001:db8:2::/64")
    assert r.exit_code != 0 and "neighbors[0].ap_id" in r.output, r.output


def test_prefix_comes_from_the_cga_or_must_be_given(inputs, tmp_path):
    # MN: a global CGA names its link, so --prefix defaults to it ...
    r = run(*mn_args(inputs, tmp_path / "mn", **{"--prefix": None}))
    assert r.exit_code == 0, r.output
    assert config.load(str(tmp_path / "mn" / "config.json"))["prefix"] == "2001:db8:1::/64"
    # ... and another link prefix is refused: the MN's address would not be on its link
    r = run(*mn_args(inputs, tmp_path / "mn2", **{"--prefix": "2001:db8:2::/64"}))
    assert r.exit_code == 2 and "the MN's CGA is on 2001:db8:1::/64, not on the link prefix 2001:db8:2::/64" \
        in r.output, r.output
    # AR: a link-local CGA does not tell the link, and there is no silent default
    r = run(*ar_args(inputs, tmp_path / "ar", **{"--prefix": None}))
    assert r.exit_code == 2 and "give --prefix" in r.output, r.output
    assert not (tmp_path / "mn2").exists() and not (tmp_path / "ar").exists()


def test_unwritable_out_is_a_clear_error(inputs, tmp_path):
    (tmp_path / "file").write_text("user data\n")
    r = run(*mn_args(inputs, tmp_path / "file" / "mn"))
    assert r.exit_code == 1 and "%s: Not a directory" % (tmp_path / "file" / "mn") in r.output, r.output
    assert "Traceback" not in r.output and (tmp_path / "file").read_text() == "user data\n"


def snapshot(d):
    return {p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in sorted(d.iterdir())}


def test_existing_bundle_is_refused_without_force_and_keeps_its_device_key(inputs, tmp_path):
    out = tmp_path / "ar"
    assert run(*ar_args(inputs, out)).exit_code == 0
    before = snapshot(out)
    r = run(*ar_args(inputs, out, **{"--at": 0}))
    assert r.exit_code == 2, r.output
    assert ("%s already holds files (certs.pem, cga.der, config.json, device.key, key.pem); use another --out, "
            "or --force to replace the bundle (its device.key is kept unless --new-device-key)" % out) in r.output
    assert snapshot(out) == before
    r = run(*ar_args(inputs, out, **{"--at": 0}), "--new-device-key")
    assert r.exit_code == 2 and "--new-device-key replaces the device.key of an existing bundle: add --force" \
        in r.output
    assert snapshot(out) == before
    # --force: new settings, same device.key (keys the AR issued keep verifying after the next flash)
    r = run(*ar_args(inputs, out, **{"--at": 0}), "--force")
    assert r.exit_code == 0, r.output
    assert config.load(str(out / "config.json"))["at"] == 0
    assert (out / "device.key").read_bytes() == before["device.key"][0]
    assert run(*ar_args(inputs, out), "--force", "--new-device-key").exit_code == 0
    assert (out / "device.key").read_bytes() != before["device.key"][0]
    assert stat.S_IMODE((out / "device.key").stat().st_mode) == 0o600


def test_mn_over_an_ar_bundle_leaves_none_of_the_ar_files(inputs, tmp_path):
    out = tmp_path / "b"
    assert run(*ar_args(inputs, out)).exit_code == 0
    r = run(*mn_args(inputs, out), "--force")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["anchors.pem", "cga.der", "config.json", "hkepk.pem", "key.pem"]


def test_private_files_are_created_0600_and_symlinks_not_followed(inputs, tmp_path, opened):
    assert run(*ar_args(inputs, tmp_path / "ar")).exit_code == 0
    assert run(*mn_args(inputs, tmp_path / "mn")).exit_code == 0
    private = [(n, f, m) for n, f, m in opened if n in ("key.pem", "device.key", "hkepk.pem")]
    assert sorted(n for n, _, _ in private) == ["device.key", "hkepk.pem", "key.pem", "key.pem"]
    assert all(created_private(flags, mode) for _, flags, mode in private)
    for d, names in ((tmp_path / "ar", ("key.pem", "device.key")), (tmp_path / "mn", ("key.pem", "hkepk.pem"))):
        for n in names:
            assert stat.S_IMODE((d / n).stat().st_mode) == 0o600
    # --force over a planted symlink replaces the link, never writes through it
    victim = tmp_path / "victim"
    victim.write_text("not yours\n")
    (tmp_path / "mn" / "hkepk.pem").unlink()
    (tmp_path / "mn" / "hkepk.pem").symlink_to(victim)
    assert run(*mn_args(inputs, tmp_path / "mn"), "--force").exit_code == 0
    assert victim.read_text() == "not yours\n" and not (tmp_path / "mn" / "hkepk.pem").is_symlink()


def test_format_time_matches_the_datetime_module():
    import datetime
    import random
    rnd = random.Random(5)
    for t in [0, 951782400, 2208988800, 4102444799.999, 253402300799] + [rnd.uniform(0, 4e9) for _ in range(2000)]:
        ref = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
        assert config.format_time(t) == ref.strftime("%Y-%m-%dT%H:%M:%SZ"), t
    for t, text in ((1796112090.5, "2026-12-01T08:01:30.500Z"), (0.125, "1970-01-01T00:00:00.125Z"),
                    (951782400.25, "2000-02-29T00:00:00.250Z")):
        assert config.format_time(int(t), round(t % 1 * 1000)) == text
        assert datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="milliseconds") == \
            text.replace("Z", "+00:00")


def test_nvs_puts_the_device_key_in_an_nvs_image_not_a_file(inputs, tmp_path):
    out = tmp_path / "ar"
    r = run(*ar_args(inputs, out), "--nvs")
    assert r.exit_code == 0, r.output
    cfg = config.load(str(out / "config.json"))
    assert cfg["device_key_file"] == "nvs:device.key"
    assert not (out / "device.key").exists()
    assert stat.S_IMODE((out / "nvs.bin").stat().st_mode) == 0o600
    key = nvs.read_key((out / "nvs.bin").read_bytes())
    assert len(key) == 32
    # --force keeps the key, into a file bundle too; --new-device-key replaces it
    assert run(*ar_args(inputs, out, **{"--at": 0}), "--nvs", "--force").exit_code == 0
    assert nvs.read_key((out / "nvs.bin").read_bytes()) == key
    assert run(*ar_args(inputs, out), "--force").exit_code == 0
    assert (out / "device.key").read_bytes() == key and not (out / "nvs.bin").exists()
    assert run(*ar_args(inputs, out), "--nvs", "--force").exit_code == 0
    assert nvs.read_key((out / "nvs.bin").read_bytes()) == key and not (out / "device.key").exists()
    assert run(*ar_args(inputs, out), "--nvs", "--force", "--new-device-key").exit_code == 0
    assert nvs.read_key((out / "nvs.bin").read_bytes()) != key
    r = run(*mn_args(inputs, tmp_path / "mn"), "--nvs")
    assert r.exit_code == 2 and "--nvs is for an AR's device.key; an MN has none" in r.output
