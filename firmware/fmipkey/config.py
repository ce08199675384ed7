# The device configuration (config.json in the bundle): one schema, one validator.
# Every problem raises ConfigError naming the key, what is wrong and how to fix it.
import json
import os

from fmipkey.errors import ConfigError

# name, default, kind, one-line description. Kinds: ("int", lo, hi),
# ("num", lo, hi), ("choice", values), ("name",) a non-empty string,
# ("prefix",) an IPv6 /64, ("addr",) an IPv6 address or "" for none,
# ("neighbors",) the AR's list of neighbouring access routers.
SCHEMA = (
    ("role", "ar", ("choice", ("ar", "mn")), "what this node runs: ar (access router) or mn (mobile node)"),
    ("interface", "eth0", ("name",), "network interface of the link (eth0, br-lan, wlan0)"),
    ("prefix", "2001:db8:1::/64", ("prefix",), "the link's /64 subnet prefix"),
    ("router", "", ("addr",), "mn: the access router to ask; empty = all-routers ff02::2"),
    ("at", 0, ("choice", (0, 1)), "preferred algorithm type: 0 HMAC-SHA1-96, 1 HMAC-SHA256-128"),
    ("hk_lifetime", 43200, ("int", 1, 65535), "handover key lifetime, s (RFC 5269 HK-LIFETIME)"),
    ("hkepk_lifetime", 43200, ("int", 1, 31536000), "mn: handover key encryption key lifetime, s (HKEPK-LIFETIME)"),
    ("hkepk_handovers", 10, ("int", 1, 1000000), "mn: handovers per encryption key pair (HKEPK-HANDOVERS)"),
    ("keystore_max", 256, ("int", 1, 100000), "handover keys kept at most"),
    ("peer_cache_max", 64, ("int", 1, 100000), "SEND timestamp cache entries (peers) kept at most"),
    ("keys_per_pubkey", 2, ("int", 1, 100000), "ar: live handover keys per CGA public key (CGAs are free to mint)"),
    ("keys_per_lla", 4, ("int", 1, 100000), "ar: provisional handover keys per link-layer source (MAC)"),
    ("min_sec", 0, ("int", 0, 7), "ar: lowest CGA Sec given a handover key (Sec 0 CGAs cost nothing to mint)"),
    ("max_prrtadv_rate", 10, ("int", 1, 100000),
     "ar: PrRtAdvs signed per second at most (each an RSA signature); more RtSolPrs are dropped"),
    ("max_verify_rate", 100, ("int", 1, 100000), "ar: SEND RtSolPr signatures verified per second at most"),
    ("max_unsecured_rate", 2, ("int", 0, 100000), "ar: PrRtAdvs per second for unsecured or unverified RtSolPrs"),
    ("source_rate", 5, ("int", 1, 100000), "ar: RtSolPrs per second taken from one source (MAC, IPv6 address)"),
    ("flood_pps", 500, ("int", 100, 10000000),
     "ar: frames per second from one MAC (counted per tenth of a second) that get it blocked in the kernel filter "
     "for a minute"),
    ("max_cpa_rate", 10, ("int", 1, 1000), "ar: CPAs sent per second at most (RFC 3971 MAX_CPA_RATE)"),
    ("timestamp_delta", 300, ("int", 1, 86400), "accepted SEND timestamp offset, s (TIMESTAMP_DELTA)"),
    ("timestamp_fuzz", 1, ("num", 0, 3600), "SEND timestamp fuzz factor, s (TIMESTAMP_FUZZ)"),
    ("timestamp_drift", 1, ("num", 0, 100), "SEND clock drift allowed, percent (TIMESTAMP_DRIFT)"),
    ("rtsolpr_retries", 3, ("int", 0, 10), "mn: RtSolPr retransmissions (RFC 5568 RTSOLPR_RETRIES)"),
    ("max_rtsolpr_rate", 3, ("int", 1, 100), "mn: RtSolPrs per second at most (MAX_RTSOLPR_RATE)"),
    ("fbu_retries", 3, ("int", 0, 10), "mn: FBU retransmissions (RFC 5568 FBU_RETRIES)"),
    ("rsa_min_bits", 1024, ("int", 384, 4096), "smallest RSA key accepted from a peer, bits"),
    ("rsa_max_bits", 2048, ("int", 384, 4096), "largest RSA key accepted from a peer, bits"),
    ("key_file", "key.pem", ("name",), "this node's RSA private key (PEM), its CGA key"),
    ("cga_file", "cga.der", ("name",), "this node's CGA Parameters (raw bytes)"),
    ("cga_sec", 1, ("int", 0, 7), "the Sec the CGA was generated with (fmipkey cga gen --sec)"),
    ("certs_file", "certs.pem", ("name",), "ar: certification path (PEM), router certificate first"),
    ("anchors_file", "anchors.pem", ("name",), "mn: SEND trust anchors (PEM certificates)"),
    ("hkepk_file", "hkepk.pem", ("name",), "mn: handover key encryption key pairs (PEM)"),
    ("keystore_file", "keystore.bin", ("name",), "sealed handover key store"),
    ("device_key_file", "device.key", ("name",), "device key that seals the key store"),
    ("counters_file", "counters.json", ("name",), "counters the daemon writes: {name: int}"),
    ("counters_interval", 10, ("int", 1, 86400), "how often the daemon writes counters_file, s"),
    ("neighbors", [], ("neighbors",), "ar: neighbouring ARs [{ap_id, nar_lla, nar_addr, nar_prefix[, fmip]}]"),
    ("log", "info", ("choice", ("debug", "info", "warn", "error")), "log level"),
)
NEIGHBOR_KEYS = ("ap_id", "nar_lla", "nar_addr", "nar_prefix")  # required; "fmip" (bool) optional
HEX = "0123456789abcdefABCDEF"


def entry(name):
    for e in SCHEMA:
        if e[0] == name:
            return e
    raise ConfigError("unknown config key '%s'%s; known keys: %s"
                      % (name, _did_you_mean(name), " ".join(e[0] for e in SCHEMA)))


def defaults():
    # Fresh lists: a caller must not mutate the schema's default.
    return dict((e[0], list(e[1]) if type(e[1]) is list else e[1]) for e in SCHEMA)


def validate(cfg):
    """Check every key of `cfg`; return a new dict with defaults filled in."""
    if type(cfg) is not dict:
        raise ConfigError("config: expected a JSON object {\"key\": value, ...}, got %s" % _show(cfg))
    for name in cfg:
        entry(name)
    out = defaults()
    for e in SCHEMA:
        if e[0] in cfg:
            out[e[0]] = _check(e[0], e[2], cfg[e[0]])
    if out["rsa_min_bits"] > out["rsa_max_bits"]:
        raise ConfigError("rsa_min_bits: %d is above rsa_max_bits %d; lower rsa_min_bits or raise rsa_max_bits"
                          % (out["rsa_min_bits"], out["rsa_max_bits"]))
    return out


def read(path, fix):
    """The text of a configuration file; ConfigError saying how to `fix` a missing one."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        raise ConfigError("%s: cannot read it; %s" % (path, fix))


def load(path):
    text = read(path, "flash a bundle with config.json (fmipkey provision, fmipkey flash)")
    try:
        cfg = json.loads(text)
    except ValueError:
        raise ConfigError("%s: not valid JSON; fix the syntax or write a new one with fmipkey provision" % path)
    return validate(cfg)


def set_value(cfg, name, text):
    """Parse `text` (JSON, or a bare string) as the value of `name`, validate, store it in cfg, return it."""
    e = entry(name)
    try:
        value = json.loads(text)
    except ValueError:
        value = text  # bare words such as br-lan or 2001:db8::/64 need no quotes
    new = dict(cfg)
    new[name] = _check(name, e[2], value)
    new = validate(new)
    cfg[name] = new[name]
    return cfg[name]


def dumps(cfg):
    # One key per line in schema order: readable on the board, stable for diffs.
    lines = ['  "%s": %s' % (e[0], json.dumps(cfg[e[0]])) for e in SCHEMA if e[0] in cfg]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def save(path, cfg):
    """Validate and write atomically: a new file, then rename over the old one."""
    text = dumps(validate(cfg))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


class Neighbor:
    """A neighbouring access router as the AR answers for it (rfc5568 6.1.2): the AP's
    link-layer id, the NAR's link-layer address, IPv6 address and /64 (8 octets), and
    whether it does fast handovers (`fmip`)."""

    def __init__(self, ap_id, nar_lla, nar_addr, nar_prefix, fmip=True):
        self.ap_id = ap_id
        self.nar_lla = nar_lla
        self.nar_addr = nar_addr
        self.nar_prefix = nar_prefix
        self.fmip = fmip


class Settings:
    """What the engines run with, typed: built once by settings(cfg) from a validated config;
    the engines read these attributes and never the config text."""

    def __init__(self, cfg):
        self.prefix = parse_prefix(cfg["prefix"])          # the link's /64, 8 octets
        self.router = parse_addr(cfg["router"]) if cfg["router"] else None
        self.neighbors = [Neighbor(parse_lla(n["ap_id"]), parse_lla(n["nar_lla"]), parse_addr(n["nar_addr"]),
                                   parse_prefix(n["nar_prefix"]), n.get("fmip", True)) for n in cfg["neighbors"]]
        self.at = cfg["at"]
        self.hkepk_lifetime = cfg["hkepk_lifetime"]
        self.hkepk_handovers = cfg["hkepk_handovers"]
        self.keys_per_pubkey = cfg["keys_per_pubkey"]
        self.max_bindings = cfg["keystore_max"]            # a binding needs a live key: no more than keys
        self.peer_cache_max = cfg["peer_cache_max"]
        self.keys_per_lla = cfg["keys_per_lla"]
        self.min_sec = cfg["min_sec"]
        self.max_prrtadv_rate = cfg["max_prrtadv_rate"]
        self.max_verify_rate = cfg["max_verify_rate"]
        self.max_unsecured_rate = cfg["max_unsecured_rate"]
        self.source_rate = cfg["source_rate"]
        self.max_cpa_rate = cfg["max_cpa_rate"]
        self.timestamp_delta = cfg["timestamp_delta"]
        self.timestamp_fuzz = cfg["timestamp_fuzz"]
        self.timestamp_drift = cfg["timestamp_drift"]
        self.rtsolpr_retries = cfg["rtsolpr_retries"]
        self.max_rtsolpr_rate = cfg["max_rtsolpr_rate"]
        self.fbu_retries = cfg["fbu_retries"]
        self.rsa_min_bits = cfg["rsa_min_bits"]
        self.rsa_max_bits = cfg["rsa_max_bits"]


def settings(cfg):
    """The engines' Settings from a config dict (validated first: ConfigError says what to fix)."""
    return Settings(validate(cfg))


def parse_addr(text):
    """IPv6 text (no embedded IPv4) -> 16 bytes; ValueError when malformed."""
    halves = text.split("::")
    if len(halves) > 2:
        raise ValueError("more than one '::'")
    head = halves[0].split(":") if halves[0] else []
    tail = halves[1].split(":") if len(halves) == 2 and halves[1] else []
    if len(halves) == 1 and len(head) != 8 or len(halves) == 2 and len(head) + len(tail) > 7:
        raise ValueError("wrong number of groups")
    groups = head + ["0"] * (8 - len(head) - len(tail)) + tail
    out = bytearray()
    for g in groups:
        if not 1 <= len(g) <= 4 or any(c not in HEX for c in g):
            raise ValueError("bad group '%s'" % g)
        out += int(g, 16).to_bytes(2, "big")
    return bytes(out)


def format_addr(addr):
    """16 bytes -> IPv6 text, the longest run of two or more zero groups as '::' (RFC 5952)."""
    groups = ["%x" % (addr[i] << 8 | addr[i + 1]) for i in range(0, 16, 2)]
    best, best_len, i = 0, 1, 0
    while i < 8:
        j = i
        while j < 8 and groups[j] == "0":
            j += 1
        if j - i > best_len:
            best, best_len = i, j - i
        i = j + 1
    if best_len < 2:
        return ":".join(groups)
    return ":".join(groups[:best]) + "::" + ":".join(groups[best + best_len:])


def format_time(t, ms=None):
    """Unix seconds -> ISO 8601 UTC, 2026-12-04T17:05:09Z; ms, the milliseconds into that
    second (clock.Now.sub), as .123 before the Z. By calendar arithmetic, not time.gmtime:
    the ESP32's epoch is 2000, not 1970."""
    s = int(t)
    days, rem = s // 86400, s % 86400
    # days since 1970-01-01 -> civil date (proleptic Gregorian, eras of 400 years)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    frac = "" if ms is None else ".%03d" % ms
    return "%04d-%02d-%02dT%02d:%02d:%02d%sZ" % (y, m, d, rem // 3600, rem // 60 % 60, rem % 60, frac)


def parse_prefix(text):
    """"2001:db8:1::/64" -> its 8 prefix bytes; ValueError unless a /64 with zero host bits."""
    parts = text.split("/")
    if len(parts) != 2 or parts[1] != "64":
        raise ValueError("not a /64")
    addr = parse_addr(parts[0])
    if addr[8:] != bytes(8):
        raise ValueError("host bits set")
    return addr[:8]


def parse_lla(text):
    """Link-layer address TEXT in hex, with or without ':'/'-' separators -> 6 or 8 bytes."""
    digits = text.replace(":", "").replace("-", "")
    if len(digits) not in (12, 16) or any(c not in HEX for c in digits):
        raise ValueError("not 6 or 8 hex octets")
    return bytes(int(digits[i:i + 2], 16) for i in range(0, len(digits), 2))


def _check(name, kind, v):
    k = kind[0]
    if k == "int" or k == "num":
        if not (type(v) is int or k == "num" and type(v) is float) or not kind[1] <= v <= kind[2]:
            _bad(name, v, "a%s number from %s to %s" % (" whole" if k == "int" else "", kind[1], kind[2]))
        return v
    if k == "choice":
        if not any(v == c and type(v) is type(c) for c in kind[1]):
            _bad(name, v, "one of " + ", ".join(json.dumps(c) for c in kind[1]))
        return v
    if type(v) is not str and k != "neighbors":
        _bad(name, v, "a string")
    if k == "name":
        if not v:
            _bad(name, v, "a non-empty name")
        return v
    if k == "neighbors":
        return _neighbors(name, v)
    try:
        if k == "prefix":
            parse_prefix(v)
        elif v:
            parse_addr(v)
    except ValueError as e:
        _bad(name, v, ("an IPv6 /64 such as 2001:db8:1::/64" if k == "prefix" else
                       "an IPv6 address such as 2001:db8:1::1 or \"\"") + " (%s)" % e.args[0])
    return v


def _neighbors(name, v):
    if type(v) is not list:
        _bad(name, v, "a list of {\"ap_id\", \"nar_lla\", \"nar_addr\", \"nar_prefix\"} objects")
    for i, n in enumerate(v):
        where = "%s[%d]" % (name, i)
        if type(n) is not dict or sorted(k for k in n if k != "fmip") != sorted(NEIGHBOR_KEYS):
            _bad(where, n, "an object with exactly the keys " + ", ".join(NEIGHBOR_KEYS) + " and optionally fmip")
        if type(n.get("fmip", True)) is not bool:
            _bad(where + ".fmip", n["fmip"], "true or false (false: that AP's router does not do fast handovers)")
        for key, parse, expect in (("ap_id", parse_lla, "hex link-layer id, e.g. 02:00:00:00:01:01"),
                                   ("nar_lla", parse_lla, "hex link-layer address, e.g. 02:00:00:00:02:01"),
                                   ("nar_addr", parse_addr, "the NAR's IPv6 address"),
                                   ("nar_prefix", parse_prefix, "the NAR's /64, e.g. 2001:db8:2::/64")):
            try:
                if type(n[key]) is not str:
                    raise ValueError("not a string")
                parse(n[key])
            except ValueError as e:
                _bad(where + "." + key, n[key], "%s (%s)" % (expect, e.args[0]))
    return v


def _bad(name, v, expect):
    raise ConfigError("%s: %s is not valid; use %s" % (name, _show(v), expect))


def _show(v):
    s = json.dumps(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _did_you_mean(name):
    # The known key with the smallest edit distance, if it is close enough to be a typo.
    best, best_d = None, 4
    for e in SCHEMA:
        d = _distance(name, e[0])
        if d < best_d:
            best, best_d = e[0], d
    return " (did you mean '%s'?)" % best if best else ""


def _distance(a, b):
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, row[0] = row[0], i
        for j in range(1, len(b) + 1):
            cur = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
            prev, row[j] = row[j], cur
    return row[len(b)]
