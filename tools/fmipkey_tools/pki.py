"""`fmipkey pki`: a SEND trust anchor, intermediates and router certificates
(RFC 3971 section 6, RFC 6494 EKUs) carrying RFC 3779 IPv6 prefix delegations.

A CA directory holds `ca-cert.pem`, `ca-key.pem` and, below the anchor,
`chain.pem` (its certificate and those above it, anchor excluded). A router
directory holds `router-key.pem`, `router-cert.pem` and `router-chain.pem`
(router certificate, then intermediates; the anchor is not included)."""
import datetime
import ipaddress
import os
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from fmipkey.crypto import der
from fmipkey.crypto import x509 as fw_x509
from fmipkey_tools import private

ID_PE_IP_ADDR_BLOCKS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.7")
ID_KP_SEND_ROUTER = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.23")
MIN_BITS, MAX_BITS = 1024, 2048
MAX_DAYS = 36500  # a century; X.509 dates end in 9999, a trust anchor should end much sooner
PASSPHRASE_ENV = "FMIPKEY_CA_PASSPHRASE"


# ---- RFC 3779 IPAddrBlocks, DER with the firmware's encoder (cryptography has no type for it) ----

def prefix_bits(net):
    """An IPv6 prefix as an RFC 3779 IPAddress: a BIT STRING exactly prefixlen bits long."""
    nbytes = (net.prefixlen + 7) // 8
    return der.tlv(der.BIT_STRING, bytes(((8 - net.prefixlen % 8) % 8,)) + net.network_address.packed[:nbytes])


def ip_addr_blocks(nets):
    """IPAddrBlocks with one IPv6 family (AFI 00 02) listing the prefixes in canonical order."""
    family = der.tlv(der.OCTET_STRING, b"\x00\x02") + der.tlv(der.SEQUENCE, b"".join(prefix_bits(n) for n in nets))
    return der.tlv(der.SEQUENCE, der.tlv(der.SEQUENCE, family))


def parse_prefixes(texts):
    """Sorted, non-overlapping IPv6 networks, as RFC 3779's canonical form requires."""
    nets = []
    for t in texts:
        try:
            net = ipaddress.IPv6Network(t, strict=True)
        except ValueError as e:
            raise click.UsageError("bad --prefix %r: %s (give an IPv6 prefix like 2001:db8::/32 with no host bits)"
                                   % (t, e))
        for n in nets:  # a certificate lists each range once: a silent merge hides a typo
            if net.overlaps(n):
                raise click.UsageError("--prefix %s and --prefix %s overlap; give each address range once (the "
                                       "larger one covers both)" % (n, net))
        nets.append(net)
    nets = sorted(nets)
    for a, b in zip(nets, nets[1:]):
        if int(a.broadcast_address) + 1 == int(b.network_address):
            raise click.UsageError("prefixes %s and %s touch; RFC 3779 needs them as one range, which this tool "
                                   "does not write: give a prefix covering both" % (a, b))
    return nets


# ---- keys, names and certificates -----------------------------------------

def new_key(bits):
    if not MIN_BITS <= bits <= 4096:
        raise click.UsageError("--bits %d: use %d to 4096 (routers: %d to %d)" % (bits, MIN_BITS, MIN_BITS, MAX_BITS))
    return rsa.generate_private_key(65537, bits)


def write_key(path, key, passphrase=None, replace=False):
    """PKCS#8 PEM in a new 0600 file (fmipkey_tools.private), encrypted when a passphrase is given."""
    enc = serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    private.write(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc),
                  replace)


def new_passphrase(encrypt):
    """The passphrase for a new CA key: None unless `encrypt`; from $FMIPKEY_CA_PASSPHRASE or asked twice."""
    if not encrypt:
        return None
    text = os.environ.get(PASSPHRASE_ENV) or click.prompt("passphrase for the CA key", hide_input=True,
                                                          confirmation_prompt=True, err=True)
    if len(text) < 8:
        raise click.UsageError("the CA key passphrase is shorter than 8 characters; choose a longer one")
    return text


def validity_end(days, issuer_cert):
    """notAfter for a certificate valid `days` from now, never past its issuer's (a path is valid
    only while every certificate in it is). days None: 3650, or up to the issuer's end."""
    now = datetime.datetime.now(datetime.timezone.utc)
    end = now + datetime.timedelta(days=days or 3650)
    if issuer_cert is None:
        return end
    ca_end = issuer_cert.not_valid_after_utc
    if ca_end <= now:
        raise click.UsageError("the CA's certificate expired on %s; renew the CA first" % ca_end.date())
    if end <= ca_end:
        return end
    if days is None:
        return ca_end
    raise click.UsageError("--days %d would end on %s, after the CA's certificate (%s): give --days %d at most"
                           % (days, end.date(), ca_end.date(), (ca_end - now).days))


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def build_cert(subject_cn, public_key, issuer_cert, issuer_key, nets, not_after, ca, path_len=None):
    """A certificate for public_key; self-signed when issuer_cert is None."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    b = (x509.CertificateBuilder()
         .subject_name(name)
         .issuer_name(issuer_cert.subject if issuer_cert else name)
         .public_key(public_key)
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=path_len if ca else None), critical=True)
         .add_extension(ski, critical=False)
         .add_extension(x509.UnrecognizedExtension(ID_PE_IP_ADDR_BLOCKS, ip_addr_blocks(nets)), critical=True))
    issuer_pub = issuer_cert.public_key() if issuer_cert else public_key
    b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_pub), critical=False)
    if ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        b = b.add_extension(x509.ExtendedKeyUsage([ID_KP_SEND_ROUTER]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def load_ca(ca_dir):
    """(cert, key, chain PEM below the anchor) of a CA directory, with errors that say what to do."""
    d = Path(ca_dir)
    cert_p, key_p = d / "ca-cert.pem", d / "ca-key.pem"
    if not d.is_dir() or not cert_p.exists() or not key_p.exists():
        raise click.UsageError("--ca %s is not a CA directory (needs ca-cert.pem and ca-key.pem); "
                               "make one with `fmipkey pki init --out %s --prefix ...`" % (ca_dir, ca_dir))
    key_pem = key_p.read_bytes()
    password = None
    if b"ENCRYPTED PRIVATE KEY" in key_pem:
        password = (os.environ.get(PASSPHRASE_ENV) or
                    click.prompt("passphrase for %s" % key_p, hide_input=True, err=True)).encode()
    try:
        cert = x509.load_pem_x509_certificate(cert_p.read_bytes())
        key = serialization.load_pem_private_key(key_pem, password=password)
    except ValueError as e:
        hint = " (wrong passphrase? it comes from $%s or the prompt)" % PASSPHRASE_ENV if password else ""
        raise click.UsageError("cannot read the CA in %s: %s%s" % (ca_dir, e, hint))
    chain = (d / "chain.pem").read_bytes() if (d / "chain.pem").exists() else b""
    return cert, key, chain


def check_inside(issuer_cert, nets):
    """Refuse prefixes the issuer does not hold (rfc3971 6.3.1), using the firmware's own reading of RFC 3779."""
    fw = fw_x509.parse(issuer_cert.public_bytes(serialization.Encoding.DER))
    for n in nets:
        if fw.ip_blocks is not None and not fw_x509.covers(fw, n.network_address.packed, n.prefixlen):
            held = ", ".join("%s/%d" % (ipaddress.IPv6Address(p), pl) for p, pl in fw.ip_blocks) or "none"
            raise click.UsageError("prefix %s is not inside the issuer's prefixes (%s); use a prefix within "
                                   "them, or issue from a CA that holds it" % (n, held))


def out_dir(path):
    """The output directory, made only once everything is checked: an error leaves nothing behind."""
    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    return d


def refuse_existing_ca(out):
    if (Path(out) / "ca-key.pem").exists():
        raise click.UsageError("%s already holds a CA (ca-key.pem); use another --out or delete it" % out)


# ---- commands -------------------------------------------------------------

@click.group()
def cli():
    """Trust anchors, intermediates and SEND router certificates (RFC 3779 prefixes)."""


PREFIX_OPT = click.option("--prefix", "prefixes", multiple=True, required=True,
                          help="IPv6 prefix delegated by this certificate (repeatable), e.g. 2001:db8::/32.")
DAYS_OPT = click.option("--days", type=click.IntRange(1, MAX_DAYS), default=None,
                        help="Validity in days (default 3650; an issued certificate never outlives its CA's).")
ENCRYPT_OPT = click.option("--encrypt-key", is_flag=True,
                           help="Encrypt ca-key.pem with a passphrase (asked twice, or $%s); "
                                "it is asked again whenever the CA issues." % PASSPHRASE_ENV)


@cli.command()
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Directory for ca-cert.pem and ca-key.pem.")
@PREFIX_OPT
@DAYS_OPT
@click.option("--bits", type=int, default=2048, show_default=True, help="RSA key size.")
@click.option("--name", default="fmipkey SEND trust anchor", show_default=True, help="Subject common name.")
@ENCRYPT_OPT
def init(out, prefixes, days, bits, name, encrypt_key):
    """Make a self-signed trust anchor delegating PREFIXes."""
    nets = parse_prefixes(prefixes)
    refuse_existing_ca(out)
    passphrase = new_passphrase(encrypt_key)
    key = new_key(bits)
    cert = build_cert(name, key.public_key(), None, key, nets, validity_end(days, None), ca=True)
    d = out_dir(out)
    write_key(d / "ca-key.pem", key, passphrase)
    (d / "ca-cert.pem").write_bytes(pem(cert))
    click.echo("trust anchor %s for %s" % (d / "ca-cert.pem", ", ".join(map(str, nets))))


@cli.command()
@click.option("--ca", "ca_dir", required=True, type=click.Path(), help="Issuing CA directory.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Directory for the intermediate CA.")
@PREFIX_OPT
@DAYS_OPT
@click.option("--bits", type=int, default=2048, show_default=True, help="RSA key size.")
@click.option("--name", default="fmipkey SEND intermediate", show_default=True, help="Subject common name.")
@ENCRYPT_OPT
def intermediate(ca_dir, out, prefixes, days, bits, name, encrypt_key):
    """Make an intermediate CA under --ca, delegating PREFIXes inside the issuer's."""
    nets = parse_prefixes(prefixes)
    refuse_existing_ca(out)
    ca_cert, ca_key, ca_chain = load_ca(ca_dir)
    check_inside(ca_cert, nets)
    not_after = validity_end(days, ca_cert)
    passphrase = new_passphrase(encrypt_key)
    key = new_key(bits)
    cert = build_cert(name, key.public_key(), ca_cert, ca_key, nets, not_after, ca=True)
    d = out_dir(out)
    write_key(d / "ca-key.pem", key, passphrase)
    (d / "ca-cert.pem").write_bytes(pem(cert))
    (d / "chain.pem").write_bytes(pem(cert) + ca_chain)
    click.echo("intermediate %s for %s" % (d / "ca-cert.pem", ", ".join(map(str, nets))))


@cli.command()
@click.option("--ca", "ca_dir", required=True, type=click.Path(), help="Issuing CA directory.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Directory for router-{key,cert,chain}.pem.")
@PREFIX_OPT
@DAYS_OPT
@click.option("--bits", type=int, default=1024, show_default=True, help="RSA key size, %d..%d." % (MIN_BITS, MAX_BITS))
@click.option("--name", default=None, help="Subject common name (default: router <first prefix>).")
@click.option("--force", is_flag=True, help="Replace an existing router-key.pem (CGAs made for it stop matching).")
def router(ca_dir, out, prefixes, days, bits, name, force):
    """Issue a SEND router certificate (EKU id-kp-sendRouter) for PREFIXes inside the CA's."""
    if not MIN_BITS <= bits <= MAX_BITS:
        raise click.UsageError("--bits %d: a SEND router key is %d to %d bits" % (bits, MIN_BITS, MAX_BITS))
    nets = parse_prefixes(prefixes)
    if (Path(out) / "router-key.pem").exists() and not force:
        # CGAs and bundles made with the old key would silently stop matching the new certificate.
        raise click.UsageError("%s already holds a router key (router-key.pem); use another --out, or --force "
                               "to replace it (then make its CGA again: fmipkey cga gen --key)" % out)
    ca_cert, ca_key, ca_chain = load_ca(ca_dir)
    check_inside(ca_cert, nets)
    not_after = validity_end(days, ca_cert)
    key = new_key(bits)
    cert = build_cert(name or "router %s" % nets[0], key.public_key(), ca_cert, ca_key, nets, not_after, ca=False)
    d = out_dir(out)
    write_key(d / "router-key.pem", key, replace=force)
    (d / "router-cert.pem").write_bytes(pem(cert))
    (d / "router-chain.pem").write_bytes(pem(cert) + ca_chain)
    click.echo("router certificate %s for %s" % (d / "router-cert.pem", ", ".join(map(str, nets))))
