"""`fmipkey provision`: one device bundle directory (config.json, the CGA key and
parameters, and the AR's certification path + device key or the MN's trust
anchors + handover-key encryption key pairs), checked with the firmware's own
CGA and X.509 code before anything is written, and read back with identity.load."""
import os
import time
from pathlib import Path

import click
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fmipkey import config, identity
from fmipkey import nvs as fw_nvs
from fmipkey.crypto import cga, x509
from fmipkey.errors import ConfigError, ParseError, VerifyError
from fmipkey_tools import nvs, private
from fmipkey_tools.cga import load_key, spki_of

LINK_LOCAL = bytes.fromhex("fe80000000000000")
# Files of a bundle, by their config key; PRIVATE are written 0600 (fmipkey_tools.private).
FILE_KEYS = ("key_file", "cga_file", "certs_file", "anchors_file", "hkepk_file", "device_key_file")
PRIVATE = ("key_file", "hkepk_file", "device_key_file")


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def check_cga(key, params, sec, name="CGA parameters"):
    """The address the parameters give at `sec` (16 bytes), after the firmware's RFC 3972 checks."""
    try:
        p = cga.parse(params)
    except ParseError as e:
        raise click.UsageError("%s: not CGA Parameters (%s); make them with fmipkey cga gen" % (name, e.args[0]))
    if bytes(p.public_key_der) != spki_of(key):
        raise click.UsageError("%s hold another public key than the given key; use the key they were made with, "
                               "or run fmipkey cga gen --key KEY again" % name)
    addr = cga.address(params, sec)
    try:
        cga.verify(addr, params)
    except VerifyError as e:
        raise click.UsageError("%s do not give a Sec %d address (%s); pass the --sec they were generated with"
                               % (name, sec, e.args[0]))
    return addr


def check_router(key, chain, anchors, cga_prefix, cfg):
    """Refuse a certification path this AR could not use: not for its key, not a SEND
    router certificate (sendRouter EKU and digitalSignature, which MNs require: RFC 6494),
    not chaining to a given anchor, or prefixes that do not cover its CGA (a global one)
    and its link's prefix."""
    fw = [x509.parse(_der(c)) for c in chain]
    leaf = fw[0]
    if chain[0].public_key().public_numbers() != key.public_key().public_numbers():
        raise click.UsageError("the router certificate (first in --certs) is for another key than --key; "
                               "give the key it was issued for (router-key.pem)")
    if (leaf.eku is None or x509.EKU_SEND_ROUTER not in leaf.eku or leaf.key_usage is None
            or not leaf.key_usage & x509.KU_DIGITAL_SIGNATURE):
        raise click.UsageError("the router certificate lacks the id-kp-sendRouter EKU or the digitalSignature key "
                               "usage that MNs require (RFC 6494); issue it with fmipkey pki router")
    if anchors:
        try:
            leaf = x509.validate_path(fw, [x509.parse(_der(a)) for a in anchors], time.time())
        except VerifyError as e:
            raise click.UsageError("the certification path does not validate to --anchor: %s" % e.args[0])
    if leaf.ip_blocks is None:
        raise click.UsageError("the router certificate delegates no IPv6 prefix (or inherits one: then pass --anchor "
                               "so the path can be resolved); issue it with fmipkey pki router --prefix")
    try:
        identity.check_prefixes(cfg, cga_prefix, leaf)  # the check console set/save makes on the board
    except ConfigError as e:
        raise click.UsageError(e.args[0])


def existing_bundle(out):
    """(config, file names in `out`) of a bundle already there, or (None, []) for a new or empty folder.
    The config is None too when config.json is missing or does not load."""
    d = Path(out)
    if not d.is_dir():
        return None, []
    names = sorted(p.name for p in d.iterdir())
    try:
        return config.load(str(d / "config.json")), names
    except ConfigError:
        return None, names


def _kept_device_key(d, old_cfg):
    """The device key of the AR bundle in `d` being replaced: its device key file, or the
    NVS image `provision --nvs` wrote; None when it has neither."""
    image = d / nvs.IMAGE
    if image.is_file() and not image.is_symlink():
        try:
            return nvs.read_key(image.read_bytes())
        except ValueError as e:
            raise click.UsageError("%s: %s; add --new-device-key to replace it" % (image, e))
    kept = d / old_cfg["device_key_file"]
    if not fw_nvs.name(old_cfg["device_key_file"]) and kept.is_file() and not kept.is_symlink():
        return kept.read_bytes()
    return None


def write_bundle(out, role, key, params, sec, settings=None, chain=(), anchors=(), hkepk_count=2,
                 force=False, new_device_key=False):
    """Check, then write the bundle for `role` into `out`; returns the validated config.
    key: a cryptography RSA private key; params: CGA Parameters bytes; chain: router
    certificate first (AR); anchors: trust anchor certificates (MN: at least one).
    An existing bundle is replaced only with `force`; its device.key is kept (the handover
    keys it sealed stay valid) unless `new_device_key`, and files of it the new bundle
    does not have (an AR's certificates and device key under an MN) are removed."""
    old_cfg, old_names = existing_bundle(out)
    if old_names and not force:
        raise click.UsageError("%s already holds files (%s); use another --out, or --force to replace the bundle "
                               "(its device.key is kept unless --new-device-key)" % (out, ", ".join(old_names)))
    check_cga(key, params, sec)
    settings = dict(settings or {}, role=role, cga_sec=sec)
    cga_prefix = bytes(cga.parse(params).prefix)
    if "prefix" not in settings:  # never the schema's example prefix by accident
        if cga_prefix == LINK_LOCAL:
            raise click.UsageError("the CGA is link-local, so it does not tell the link's prefix: give --prefix "
                                   "(the link's /64, e.g. 2001:db8:1::/64)")
        settings["prefix"] = config.format_addr(cga_prefix + bytes(8)) + "/64"
    try:
        cfg = config.validate(settings)
    except ConfigError as e:
        raise click.UsageError(e.args[0])
    if role == "mn":
        try:
            identity.check_prefixes(cfg, cga_prefix, None)
        except ConfigError as e:
            raise click.UsageError(e.args[0])
    if not cfg["rsa_min_bits"] <= key.key_size <= cfg["rsa_max_bits"]:
        raise click.UsageError("the key is %d bits; SEND peers here accept %d to %d"
                               % (key.key_size, cfg["rsa_min_bits"], cfg["rsa_max_bits"]))
    files = {"key_file": _pem_key(key), "cga_file": bytes(params)}
    nvs_image = None
    d = Path(out)
    if role == "ar":
        if not chain:
            raise click.UsageError("an AR needs its certification path: --certs router-chain.pem (fmipkey pki router)")
        check_router(key, chain, anchors, cga_prefix, cfg)
        files["certs_file"] = b"".join(_pem_cert(c) for c in chain)
        device_key = (old_names and not new_device_key and _kept_device_key(d, old_cfg or cfg)) or os.urandom(32)
        if fw_nvs.name(cfg["device_key_file"]):
            nvs_image = nvs.image(device_key)   # --nvs: for the board's NVS partition, never its file system
        else:
            files["device_key_file"] = device_key
    else:
        if not anchors:
            raise click.UsageError("an MN needs a trust anchor to verify its router: --anchor ca-cert.pem")
        if hkepk_count < 1:
            raise click.UsageError("--hkepk-count must be at least 1")
        files["anchors_file"] = b"".join(_pem_cert(a) for a in anchors)
        # rfc5269 4.1: same algorithm and size as the CGA key
        files["hkepk_file"] = b"".join(_pem_key(rsa.generate_private_key(65537, key.key_size))
                                       for _ in range(hkepk_count))
    d.mkdir(parents=True, exist_ok=True)
    for k, data in files.items():
        if k in PRIVATE:
            private.write(d / cfg[k], data, replace=force)
        else:
            (d / cfg[k]).write_bytes(data)
    if nvs_image is not None:
        private.write(d / nvs.IMAGE, nvs_image, replace=force)
    elif (d / nvs.IMAGE).is_file():
        (d / nvs.IMAGE).unlink()
    written = {cfg[k] for k in files} | {"config.json"}
    for k in FILE_KEYS:  # what the old bundle named and the new one lacks
        name = old_cfg[k] if old_cfg else None
        if name and name not in written and "/" not in name and (d / name).is_file():
            (d / name).unlink()
    config.save(str(d / "config.json"), cfg)
    try:
        identity.load(str(d), cfg)  # what the daemon will do first
    except ConfigError as e:
        raise click.ClickException("the bundle written does not load: %s" % e.args[0])
    return cfg


def _certs(path, what):
    try:
        certs = cx509.load_pem_x509_certificates(Path(path).read_bytes())
    except FileNotFoundError:
        raise click.UsageError("%s file %s does not exist" % (what, path))
    except ValueError as e:
        raise click.UsageError("%s file %s holds no PEM certificate: %s" % (what, path, e))
    return certs


def _neighbor(text):
    parts = text.split(",")
    if len(parts) != len(config.NEIGHBOR_KEYS):
        raise click.UsageError("--neighbor %r: give ap_id,nar_lla,nar_addr,nar_prefix "
                               "(e.g. 02:00:00:00:02:00,02:00:00:00:02:01,2001:db8:2::1,2001:db8:2::/64)" % text)
    return dict(zip(config.NEIGHBOR_KEYS, parts))


@click.command()
@click.option("--role", type=click.Choice(["ar", "mn"]), required=True, help="Access router or mobile node.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Bundle directory to write.")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False), help="The CGA's RSA private key (PEM).")
@click.option("--cga", "cga_path", required=True, type=click.Path(dir_okay=False), help="CGA Parameters (DER, fmipkey cga gen).")
@click.option("--sec", type=click.IntRange(0, 7), required=True, help="The Sec the CGA was generated with.")
@click.option("--certs", "certs_path", type=click.Path(dir_okay=False), help="ar: router-chain.pem (router certificate first).")
@click.option("--anchor", "anchor_paths", multiple=True, type=click.Path(dir_okay=False),
              help="Trust anchor certificate (repeatable); mn: required, ar: checks the path.")
@click.option("--hkepk-count", type=int, default=2, show_default=True, help="mn: handover key encryption key pairs to make.")
@click.option("--interface", help="Network interface of the link (eth0, br-lan).")
@click.option("--prefix", help="The link's /64 prefix; default: the CGA's prefix (required for a link-local CGA).")
@click.option("--router", help="mn: the access router to ask (default: all-routers).")
@click.option("--at", type=click.IntRange(0, 1), help="Algorithm type: 0 HMAC-SHA1-96, 1 HMAC-SHA256-128.")
@click.option("--hk-lifetime", type=int, help="Handover key lifetime, s.")
@click.option("--keystore-max", type=int, help="Handover keys kept at most.")
@click.option("--neighbor", "neighbors", multiple=True, help="ar: ap_id,nar_lla,nar_addr,nar_prefix (repeatable).")
@click.option("--nvs", "nvs_key", is_flag=True,
              help="ar on ESP32: device.key goes to the board's NVS partition (nvs.bin in the bundle, written by "
                   "fmipkey flash with esptool), not to its file system.")
@click.option("--force", is_flag=True, help="Replace the bundle already in --out (its device.key is kept).")
@click.option("--new-device-key", is_flag=True,
              help="ar, with --force: a new device.key too (handover keys the AR issued before stop verifying).")
def cli(role, out, key_path, cga_path, sec, certs_path, anchor_paths, hkepk_count, interface, prefix, router, at,
        hk_lifetime, keystore_max, neighbors, nvs_key, force, new_device_key):
    """Write a device bundle (config, keys, CGA, certificates) for an AR or MN."""
    key = load_key(key_path)
    try:
        params = Path(cga_path).read_bytes()
    except FileNotFoundError:
        raise click.UsageError("CGA parameters file %s does not exist; make it with fmipkey cga gen" % cga_path)
    settings = {k: v for k, v in (("interface", interface), ("prefix", prefix), ("router", router), ("at", at),
                                  ("hk_lifetime", hk_lifetime), ("keystore_max", keystore_max)) if v is not None}
    if neighbors:
        settings["neighbors"] = [_neighbor(n) for n in neighbors]
    if role == "mn" and certs_path:
        raise click.UsageError("--certs is for an AR; an MN gets --anchor")
    chain = _certs(certs_path, "--certs") if certs_path else ()
    anchors = [c for p in anchor_paths for c in _certs(p, "--anchor")]
    if nvs_key:
        if role != "ar":
            raise click.UsageError("--nvs is for an AR's device.key; an MN has none")
        settings["device_key_file"] = fw_nvs.PREFIX + fw_nvs.KEY
    if new_device_key and not force:
        raise click.UsageError("--new-device-key replaces the device.key of an existing bundle: add --force")
    cfg = write_bundle(out, role, key, params, sec, settings, chain, anchors, hkepk_count, force, new_device_key)
    addr = cga.address(params, sec)
    click.echo("%s bundle in %s: CGA %s, interface %s" % (role, out, config.format_addr(addr), cfg["interface"]))
