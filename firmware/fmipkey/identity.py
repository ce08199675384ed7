# What provisioning gives a node, loaded from its bundle directory: the CGA key,
# the CGA Parameters and the address they give, plus the AR's certification path
# or the MN's trust anchors and handover-key encryption key pool.
from fmipkey import config
from fmipkey.crypto import cga, der, x509
from fmipkey.errors import ConfigError, ParseError, VerifyError


class Identity:
    def __init__(self, key, cga_params, addr):
        self.key = key                  # rsa.PrivateKey, the CGA key
        self.cga_params = cga_params    # CGA Parameters, DER bytes
        self.addr = addr                # the CGA, 16 bytes
        self.spki = cga.parse(cga_params).public_key_der


def _read(bundle, name, mode="rb"):
    path = bundle + "/" + name
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        raise ConfigError("%s: missing; provision the bundle again (fmipkey provision)" % path)


def _pem(bundle, name, label):
    try:
        blocks = der.pem_decode(_read(bundle, name))
    except ParseError as e:
        raise ConfigError("%s/%s: %s" % (bundle, name, e.args[0]))
    out = [d for (l, d) in blocks if l.endswith(label)]
    if not out:
        raise ConfigError("%s/%s: no PEM block labelled %s" % (bundle, name, label))
    return out


def private_keys(bundle, name):
    try:
        return [der.parse_private_key(d) for d in _pem(bundle, name, "PRIVATE KEY")]
    except ParseError as e:
        raise ConfigError("%s/%s: %s" % (bundle, name, e.args[0]))


def certificates(bundle, name):
    try:
        return [x509.parse(d) for d in _pem(bundle, name, "CERTIFICATE")]
    except ParseError as e:
        raise ConfigError("%s/%s: %s" % (bundle, name, e.args[0]))


def load(bundle, cfg):
    """The node's Identity; its CGA must verify with the key it was made for."""
    key = private_keys(bundle, cfg["key_file"])[0]
    params = _read(bundle, cfg["cga_file"])
    try:
        p = cga.parse(params)
        if der.parse_spki(p.public_key_der) != key.public:
            raise ConfigError("%s: CGA parameters hold another key than %s; regenerate them with fmipkey cga gen --key"
                              % (cfg["cga_file"], cfg["key_file"]))
        addr = cga.address(params, cfg["cga_sec"])
        cga.verify(addr, params)
    except (ParseError, VerifyError) as e:
        raise ConfigError("%s/%s: %s" % (bundle, cfg["cga_file"], e.args[0]))
    return Identity(key, params, addr)



LINK_LOCAL = b"\xfe\x80" + bytes(6)


def check_prefixes(cfg, cga_prefix, leaf):
    """ConfigError unless this node may be on the link prefix: an MN's global CGA on it,
    an AR's link prefix and global CGA prefix inside its router certificate's (leaf; None
    or inherited blocks: not checked here). provision and console set/save share it."""
    link = config.parse_prefix(cfg["prefix"])
    cga_prefix = bytes(cga_prefix)
    on_link = cga_prefix == LINK_LOCAL
    if cfg["role"] == "mn":
        if not on_link and cga_prefix != link:
            where = config.format_addr(cga_prefix + bytes(8)) + "/64"
            raise ConfigError("the MN's CGA is on %s, not on the link prefix %s: the AR would not take it as the MN's "
                              "address there; use %s, or make a CGA on %s (fmipkey cga gen --prefix)"
                              % (where, cfg["prefix"], where, cfg["prefix"]))
        return
    if leaf is None or leaf.ip_blocks is None:
        return
    need = [("link prefix " + cfg["prefix"], link)]
    if not on_link:
        need.append(("CGA prefix " + config.format_addr(cga_prefix + bytes(8)) + "/64", cga_prefix))
    for what, p in need:
        if not x509.covers(leaf, p + bytes(8), 64):
            held = ", ".join("%s/%d" % (config.format_addr(bytes(b)), n) for b, n in leaf.ip_blocks) or "none"
            raise ConfigError("%s is not inside the router certificate's prefixes (%s); use a prefix inside them, "
                              "or issue a certificate for it (fmipkey pki router --prefix)" % (what, held))
