"""fmipkey pki: certificates checked by openssl and by the firmware's path validation."""
import datetime
import subprocess
import time

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from conftest import created_private
from fmipkey.crypto import der, x509 as fw_x509
from fmipkey.errors import VerifyError
from fmipkey_tools.pki import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    for args in (("init", "--out", d / "ca", "--prefix", "2001:db8::/32", "--prefix", "2001:db9:1::/48", "--bits", 1024),
                 ("intermediate", "--ca", d / "ca", "--out", d / "im", "--prefix", "2001:db8:100::/40", "--bits", 1024),
                 ("router", "--ca", d / "im", "--out", d / "r", "--prefix", "2001:db8:100:1::/64"),
                 ("router", "--ca", d / "ca", "--out", d / "r0", "--prefix", "2001:db9:1:5::/64", "--bits", 2048)):
        r = run(*args)
        assert r.exit_code == 0, r.output
    return d


def openssl(*args):
    return subprocess.run(["openssl"] + [str(a) for a in args], capture_output=True, text=True)


def test_openssl_shows_rfc3779_prefixes_and_eku(pki):
    ca = openssl("x509", "-in", pki / "ca" / "ca-cert.pem", "-noout", "-text").stdout
    assert "sbgp-ipAddrBlock: critical" in ca
    assert "2001:db8::/32" in ca and "2001:db9:1::/48" in ca
    r = openssl("x509", "-in", pki / "r" / "router-cert.pem", "-noout", "-text").stdout
    assert "sbgp-ipAddrBlock: critical" in r and "2001:db8:100:1::/64" in r
    assert "Send Router" in r
    assert "CA:FALSE" in r


def test_openssl_verifies_chains(pki):
    ok = openssl("verify", "-x509_strict", "-CAfile", pki / "ca" / "ca-cert.pem", pki / "r0" / "router-cert.pem")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    ok = openssl("verify", "-x509_strict", "-CAfile", pki / "ca" / "ca-cert.pem", "-untrusted", pki / "im" / "chain.pem",
                 pki / "r" / "router-cert.pem")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # and without the intermediate it cannot (a check that the chain matters)
    bad = openssl("verify", "-CAfile", pki / "ca" / "ca-cert.pem", pki / "r" / "router-cert.pem")
    assert bad.returncode != 0


def pem_certs(path):
    return [d for label, d in der.pem_decode(path.read_text()) if label == "CERTIFICATE"]


def test_chain_file_has_no_anchor(pki):
    chain = pem_certs(pki / "r" / "router-chain.pem")
    assert chain == pem_certs(pki / "r" / "router-cert.pem") + pem_certs(pki / "im" / "ca-cert.pem")


def test_firmware_validates_path(pki):
    anchor = fw_x509.parse(pem_certs(pki / "ca" / "ca-cert.pem")[0])
    chain = list(reversed(pem_certs(pki / "r" / "router-chain.pem")))  # any order
    ee = fw_x509.validate_path(chain, [anchor], time.time())
    assert ee.eku == ["1.3.6.1.5.5.7.3.23"]
    assert [(bytes(p).hex(), n) for p, n in ee.ip_blocks] == [("20010db8010000010000000000000000", 64)]
    key = serialization.load_pem_private_key((pki / "r" / "router-key.pem").read_bytes(), None)
    assert ee.public_key.n == key.public_key().public_numbers().n


def test_firmware_rejects_prefix_outside_issuer(pki):
    """A router certificate the CLI would refuse, built with cryptography directly."""
    from fmipkey_tools.pki import ID_KP_SEND_ROUTER, ID_PE_IP_ADDR_BLOCKS, ip_addr_blocks
    import ipaddress
    im_cert = x509.load_pem_x509_certificate((pki / "im" / "ca-cert.pem").read_bytes())
    im_key = serialization.load_pem_private_key((pki / "im" / "ca-key.pem").read_bytes(), None)
    key = rsa.generate_private_key(65537, 1024)
    now = datetime.datetime.now(datetime.timezone.utc)
    bad = (x509.CertificateBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rogue")]))
           .issuer_name(im_cert.subject).public_key(key.public_key()).serial_number(7)
           .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
           .add_extension(x509.ExtendedKeyUsage([ID_KP_SEND_ROUTER]), critical=False)
           .add_extension(x509.UnrecognizedExtension(
               ID_PE_IP_ADDR_BLOCKS, ip_addr_blocks([ipaddress.IPv6Network("2001:db8:200::/64")])), critical=True)
           .sign(im_key, hashes.SHA256()))
    anchor = fw_x509.parse(pem_certs(pki / "ca" / "ca-cert.pem")[0])
    with pytest.raises(VerifyError) as e:
        fw_x509.validate_path([bad.public_bytes(serialization.Encoding.DER), pem_certs(pki / "im" / "ca-cert.pem")[0]],
                              [anchor], time.time())
    assert "outside its issuer" in str(e.value), e.value
    # openssl agrees that the delegation is broken
    pem_path = pki / "rogue.pem"
    pem_path.write_bytes(bad.public_bytes(serialization.Encoding.PEM))
    r = openssl("verify", "-CAfile", pki / "ca" / "ca-cert.pem", "-untrusted", pki / "im" / "chain.pem", pem_path)
    assert r.returncode != 0


@pytest.mark.parametrize("args, message", [
    (("router", "--ca", "{d}/im", "--out", "{d}/x", "--prefix", "2001:db8:200::/64"), "not inside the issuer"),
    (("router", "--ca", "{d}/nothing", "--out", "{d}/x", "--prefix", "2001:db8:100::/64"), "not a CA directory"),
    (("router", "--ca", "{d}/im", "--out", "{d}/x", "--prefix", "2001:db8:100::1/64"), "host bits"),
    (("router", "--ca", "{d}/im", "--out", "{d}/x", "--prefix", "banana"), "bad --prefix"),
    (("router", "--ca", "{d}/im", "--out", "{d}/x", "--prefix", "2001:db8:100::/64", "--bits", 512), "--bits 512"),
    (("init", "--out", "{d}/ca", "--prefix", "2001:db8::/32"), "already holds a CA"),
])
def test_cli_errors_say_what_to_fix(pki, args, message):
    r = run(*[a.format(d=pki) if isinstance(a, str) else a for a in args])
    assert r.exit_code == 2 and message in r.output, r.output
    assert "Traceback" not in r.output
    assert not (pki / "x").exists()


def test_router_keeps_an_existing_key_unless_forced(tmp_path):
    ca = tmp_path / "ca"
    assert run("init", "--out", ca, "--prefix", "2001:db8::/32", "--bits", 1024).exit_code == 0
    args = ("router", "--ca", ca, "--out", tmp_path / "r", "--prefix", "2001:db8:1::/64")
    assert run(*args).exit_code == 0
    key = (tmp_path / "r" / "router-key.pem").read_bytes()
    r = run(*args)
    assert r.exit_code == 2 and "already holds a router key" in r.output and "--force" in r.output, r.output
    assert (tmp_path / "r" / "router-key.pem").read_bytes() == key
    assert run(*args, "--force").exit_code == 0
    assert (tmp_path / "r" / "router-key.pem").read_bytes() != key


def test_unwritable_out_is_a_clear_error_for_every_tool(tmp_path):
    """An --out under a regular file cannot be made: one line naming the path and why, no traceback."""
    from fmipkey_tools.cli import main
    (tmp_path / "file").write_text("user data\n")
    bad = tmp_path / "file" / "sub"
    (tmp_path / "k.pem").write_bytes(rsa.generate_private_key(65537, 1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    for args in (("pki", "init", "--out", bad, "--prefix", "2001:db8::/32", "--bits", 1024),
                 ("cga", "gen", "--sec", 0, "--prefix", "2001:db8::", "--out", bad / "x.cga", "--key", tmp_path / "k.pem"),
                 ("build", "--out", bad)):
        r = CliRunner().invoke(main, [str(a) for a in args])
        assert r.exit_code == 1 and r.exception.__class__ is SystemExit, (args, r.output, r.exception)
        assert str(tmp_path / "file") in r.output and "Not a directory" in r.output, r.output
    assert (tmp_path / "file").read_text() == "user data\n"


def tree(d):
    """Every path under d (nothing written means the same tree before and after)."""
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


@pytest.mark.parametrize("args, message", [
    (("init", "--out", "{d}/new", "--prefix", "2001:db8::/32", "--days", "-5"),
     "Invalid value for '--days': -5 is not in the range 1<=x<=36500"),
    (("init", "--out", "{d}/new", "--prefix", "2001:db8::/32", "--days", "0"),
     "Invalid value for '--days': 0 is not in the range 1<=x<=36500"),
    (("init", "--out", "{d}/new", "--prefix", "2001:db8::/32", "--days", "99999999"),
     "Invalid value for '--days': 99999999 is not in the range 1<=x<=36500"),
    (("router", "--ca", "{d}/ca", "--out", "{d}/new", "--prefix", "2001:db8:1::/64", "--days", "-1"),
     "Invalid value for '--days': -1 is not in the range 1<=x<=36500"),
    (("init", "--out", "{d}/new", "--prefix", "2001:db8::/32", "--prefix", "2001:db8:1::/48"),
     "--prefix 2001:db8::/32 and --prefix 2001:db8:1::/48 overlap; give each address range once"),
    (("init", "--out", "{d}/new", "--prefix", "2001:db8::/48", "--prefix", "2001:db8::/48"),
     "--prefix 2001:db8::/48 and --prefix 2001:db8::/48 overlap"),
])
def test_bad_days_and_prefixes_write_nothing(pki, args, message):
    before = tree(pki)
    r = run(*[a.format(d=pki) for a in args])
    assert r.exit_code == 2 and message in r.output, r.output
    assert "Traceback" not in r.output
    assert tree(pki) == before and not (pki / "new").exists()


def test_issued_certificate_never_outlives_its_ca(tmp_path):
    ca = tmp_path / "ca"
    assert run("init", "--out", ca, "--prefix", "2001:db8::/32", "--bits", 1024, "--days", 365).exit_code == 0
    ca_end = x509.load_pem_x509_certificate((ca / "ca-cert.pem").read_bytes()).not_valid_after_utc
    r = run("router", "--ca", ca, "--out", tmp_path / "r", "--prefix", "2001:db8:1::/64", "--days", 10950)
    assert r.exit_code == 2, r.output
    assert ("--days 10950 would end on %s, after the CA's certificate (%s): give --days 364 at most"
            % ((datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=10950)).date(),
               ca_end.date())) in r.output, r.output
    assert not (tmp_path / "r").exists()
    # the default (3650 days) stops at the CA's end instead
    assert run("router", "--ca", ca, "--out", tmp_path / "r", "--prefix", "2001:db8:1::/64").exit_code == 0
    assert run("intermediate", "--ca", ca, "--out", tmp_path / "im", "--prefix", "2001:db8:2::/48").exit_code == 0
    for p in (tmp_path / "r" / "router-cert.pem", tmp_path / "im" / "ca-cert.pem"):
        assert x509.load_pem_x509_certificate(p.read_bytes()).not_valid_after_utc == ca_end
    # and openssl checks the path at a time the router certificate alone would still cover
    after = int(ca_end.timestamp()) + 86400
    r = openssl("verify", "-attime", after, "-CAfile", ca / "ca-cert.pem", tmp_path / "r" / "router-cert.pem")
    assert r.returncode != 0 and "expired" in r.stdout + r.stderr


def test_private_keys_are_0600_from_the_start_and_symlinks_are_not_followed(tmp_path, monkeypatch, opened):
    import stat
    assert run("init", "--out", tmp_path / "ca", "--prefix", "2001:db8::/32", "--bits", 1024).exit_code == 0
    assert run("router", "--ca", tmp_path / "ca", "--out", tmp_path / "r", "--prefix", "2001:db8:1::/64"
               ).exit_code == 0
    created = [c for c in opened if c[0].endswith("key.pem") or ".tmp" in c[0]]
    assert [n for n, _, _ in created] == ["ca-key.pem", "router-key.pem"]
    assert all(created_private(flags, mode) for _, flags, mode in created)
    for p in (tmp_path / "ca" / "ca-key.pem", tmp_path / "r" / "router-key.pem"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    # a symlink planted where the key goes is replaced, never written through
    victim = tmp_path / "victim"
    victim.write_text("not yours\n")
    (tmp_path / "r2").mkdir()
    (tmp_path / "r2" / "router-key.pem").symlink_to(victim)
    r = run("router", "--ca", tmp_path / "ca", "--out", tmp_path / "r2", "--prefix", "2001:db8:2::/64", "--force")
    assert r.exit_code == 0, r.output
    assert victim.read_text() == "not yours\n" and not (tmp_path / "r2" / "router-key.pem").is_symlink()
    assert [p.name for p in (tmp_path / "r2").iterdir() if p.name.endswith(".tmp")] == []


def test_encrypted_ca_key(tmp_path, monkeypatch):
    monkeypatch.setenv("FMIPKEY_CA_PASSPHRASE", "correct horse")
    ca = tmp_path / "ca"
    r = run("init", "--out", ca, "--prefix", "2001:db8::/32", "--bits", 1024, "--encrypt-key")
    assert r.exit_code == 0, r.output
    assert b"ENCRYPTED PRIVATE KEY" in (ca / "ca-key.pem").read_bytes()
    # OpenSSL, not our code, opens it with the passphrase and not without
    assert openssl("pkey", "-in", ca / "ca-key.pem", "-passin", "pass:correct horse", "-noout").returncode == 0
    assert openssl("pkey", "-in", ca / "ca-key.pem", "-passin", "pass:wrong", "-noout").returncode != 0
    assert run("router", "--ca", ca, "--out", tmp_path / "r", "--prefix", "2001:db8:1::/64").exit_code == 0
    ok = openssl("verify", "-CAfile", ca / "ca-cert.pem", tmp_path / "r" / "router-cert.pem")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    monkeypatch.setenv("FMIPKEY_CA_PASSPHRASE", "wrong passphrase")
    r = run("router", "--ca", ca, "--out", tmp_path / "r2", "--prefix", "2001:db8:2::/64")
    assert r.exit_code == 2 and "cannot read the CA in %s" % ca in r.output and "wrong passphrase?" in r.output
    assert not (tmp_path / "r2").exists()
    monkeypatch.setenv("FMIPKEY_CA_PASSPHRASE", "short")
    r = run("init", "--out", tmp_path / "ca2", "--prefix", "2001:db8::/32", "--encrypt-key")
    assert r.exit_code == 2 and "shorter than 8 characters" in r.output and not (tmp_path / "ca2").exists()
