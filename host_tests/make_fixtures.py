"""Regenerate the static RSA keys the firmware tests read (host_tests/fw/data/).

Keys come from OpenSSL via `cryptography`, so firmware tests never depend on
keys our own code produced. Run: .venv/bin/python host_tests/make_fixtures.py
(`... make_fixtures.py certs` rewrites only the certificates, from the existing keys).
"""
import datetime
import ipaddress
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DATA = Path(__file__).parent / "fw" / "data"


def write(name, key, fmt):
    pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    (DATA / name).write_bytes(pem)


def main():
    DATA.mkdir(parents=True, exist_ok=True)
    for bits in (1024, 2048):
        for tag in ("a", "b"):
            write("rsa%d_%s.pem" % (bits, tag), rsa.generate_private_key(65537, bits),
                  serialization.PrivateFormat.TraditionalOpenSSL)
    write("rsa1024_pkcs8.pem", rsa.generate_private_key(65537, 1024), serialization.PrivateFormat.PKCS8)


# --- certificates for host_tests/fw/test_crypto_x509.py ---------------------
# A path root -> ca -> router plus one variant per rejection the tests need.
# cryptography has no RFC 3779 support, so the ipAddrBlocks value is DER built
# here (test_crypto_interop.py checks OpenSSL reads it back as sbgp-ipAddrBlock).

SEND_ROUTER = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.23")
IP_ADDR_BLOCKS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.7")


def _der(tag, body):
    n = len(body)
    head = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + head + body


def _bitstring(value, nbits):
    # The leftmost nbits of a 128-bit value as a DER BIT STRING.
    nbytes = (nbits + 7) // 8
    data = (value >> (128 - nbits) << (nbytes * 8 - nbits)).to_bytes(nbytes, "big") if nbits else b""
    return _der(0x03, bytes([nbytes * 8 - nbits]) + data)


def _prefix(text):
    net = ipaddress.IPv6Network(text)
    return _bitstring(int(net.network_address), net.prefixlen)


def _range(lo, hi):
    # RFC 3779 2.1.2: min without its trailing zero bits, max without its trailing one bits.
    lo, hi = int(ipaddress.IPv6Address(lo)), int(ipaddress.IPv6Address(hi))
    nlo = 128
    while nlo and not (lo >> (128 - nlo)) & 1:
        nlo -= 1
    nhi = 128
    while nhi and (hi >> (128 - nhi)) & 1:
        nhi -= 1
    return _der(0x30, _bitstring(lo, nlo) + _bitstring(hi, nhi))


def ip_addr_blocks(*entries, inherit=False):
    choice = b"\x05\x00" if inherit else _der(0x30, b"".join(entries))
    return _der(0x30, _der(0x30, _der(0x04, b"\x00\x02") + choice))


def _key(name):
    return serialization.load_pem_private_key((DATA / name).read_bytes(), None)


def _cert(subject, issuer, issuer_key, key, ca, path_len=None, eku=(SEND_ROUTER,), blocks=None,
          not_before=datetime.datetime(2020, 1, 1), not_after=datetime.datetime(2040, 1, 1), extra=(),
          encipherment=False):
    name = lambda cn: x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(not_before).not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=path_len), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=not (ca or encipherment), content_commitment=False,
                                      key_encipherment=encipherment,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                      crl_sign=ca, encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if eku and not ca:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if blocks is not None:
        b = b.add_extension(x509.UnrecognizedExtension(IP_ADDR_BLOCKS, blocks), critical=True)
    for ext, critical in extra:
        b = b.add_extension(ext, critical=critical)
    return b.sign(issuer_key, hashes.SHA256())


def _sha1(cert, issuer_key):
    # cryptography refuses to sign certificates with SHA-1: re-sign the TBS with
    # sha1WithRSAEncryption (an OID of the same length) and reassemble the DER.
    sha256_rsa = bytes.fromhex("06092a864886f70d01010b")
    tbs = cert.tbs_certificate_bytes.replace(sha256_rsa, bytes.fromhex("06092a864886f70d010105"))
    sig = issuer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    alg = _der(0x30, bytes.fromhex("06092a864886f70d010105") + b"\x05\x00")
    return x509.load_der_x509_certificate(_der(0x30, tbs + alg + _der(0x03, b"\x00" + sig)))


def certs():
    root_k, ca_k, router_k = _key("rsa2048_a.pem"), _key("rsa1024_b.pem"), _key("rsa1024_a.pem")
    root_blocks = ip_addr_blocks(_prefix("2001:db8::/32"))
    # two adjacent /36s as one range: 2001:db8:1000:: - 2001:db8:2fff:ffff:...
    ca_blocks = ip_addr_blocks(_range("2001:db8:1000::", "2001:db8:2fff:ffff:ffff:ffff:ffff:ffff"))
    out = {
        # not_after past 2049: cryptography writes it as GeneralizedTime.
        "root": _cert("Test Root", "Test Root", root_k, root_k, True, blocks=root_blocks,
                      not_after=datetime.datetime(2060, 1, 1)),
        "root_pathlen0": _cert("Test Root", "Test Root", root_k, root_k, True, path_len=0, blocks=root_blocks),
        "ca": _cert("Test CA", "Test Root", root_k, ca_k, True, path_len=0, blocks=ca_blocks),
        "ca_sha1": _sha1(_cert("Test CA", "Test Root", root_k, ca_k, True, path_len=0, blocks=ca_blocks), root_k),
        "ca_not_ca": _cert("Not A CA", "Test Root", root_k, ca_k, False, eku=(),
                           blocks=ip_addr_blocks(_prefix("2001:db8:1000::/36"))),
        "router": _cert("router1", "Test CA", ca_k, router_k, False,
                        blocks=ip_addr_blocks(_prefix("2001:db8:1234::/48"), _prefix("2001:db8:2000::/40"))),
        "router_outside": _cert("router-outside", "Test CA", ca_k, router_k, False,
                                blocks=ip_addr_blocks(_prefix("2001:db8:1234::/48"), _prefix("2001:db8:4000::/48"))),
        "router_expired": _cert("router-expired", "Test CA", ca_k, router_k, False,
                                blocks=ip_addr_blocks(_prefix("2001:db8:1234::/48")),
                                not_after=datetime.datetime(2021, 1, 1)),
        "router_wrong_eku": _cert("router-wrong-eku", "Test CA", ca_k, router_k, False,
                                  eku=(ExtendedKeyUsageOID.SERVER_AUTH,),
                                  blocks=ip_addr_blocks(_prefix("2001:db8:1234::/48"))),
        # RFC 6494 wants both on a router certificate: the sendRouter EKU and digitalSignature
        "router_no_eku": _cert("router-no-eku", "Test CA", ca_k, router_k, False, eku=(),
                               blocks=ip_addr_blocks(_prefix("2001:db8:1234::/48"))),
        "router_encipher": _cert("router-encipher", "Test CA", ca_k, router_k, False, encipherment=True,
                                 blocks=ip_addr_blocks(_prefix("2001:db8:1234::/48"))),
        "router_inherit": _cert("router-inherit", "Test CA", ca_k, router_k, False,
                                blocks=ip_addr_blocks(inherit=True)),
        "router_no_blocks": _cert("router-no-blocks", "Test CA", ca_k, router_k, False),
        "router_critical": _cert("router-critical", "Test CA", ca_k, router_k, False,
                                 blocks=ip_addr_blocks(_prefix("2001:db8:1234::/48")),
                                 extra=((x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"),
                                                                    b"\x05\x00"), True),)),
        # a fixed EC key (SEND routers must sign with RSA)
        "router_ec": _cert("router-ec", "Test CA", ca_k, ec.derive_private_key(7, ec.SECP256R1()), False,
                           blocks=ip_addr_blocks(_prefix("2001:db8:1234::/48"))),
        "router_under_not_ca": _cert("router-under-not-ca", "Not A CA", ca_k, router_k, False,
                                     blocks=ip_addr_blocks(_prefix("2001:db8:1234::/48"))),
    }
    for name, cert in out.items():
        (DATA / ("cert_%s.der" % name)).write_bytes(cert.public_bytes(serialization.Encoding.DER))


if __name__ == "__main__":
    if sys.argv[1:] != ["certs"]:
        main()
    certs()
