"""`fmipkey inspect`: decode the ND, SEND, FMIPv6 and Mobility Header messages in a pcap
and check each one with the firmware's own parsers and verifiers, judged at capture time."""
import ipaddress
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fmipkey import badf, clock, net, send
from fmipkey.crypto import cga, der, rsa, x509
from fmipkey.errors import CryptoError, ParseError, VerifyError
from fmipkey.wire import certpath, fmip, icmp6, mh, names, ndopt
from fmipkey_tools import pcapfile

COLORS = {"ok": "green", "failed": "bold red", "unchecked": "yellow"}


class InspectError(click.ClickException):
    exit_code = 2        # 1 means "a check failed"


def addr(a):
    return str(ipaddress.IPv6Address(bytes(a)))


def check(rec, name, result, detail=""):
    rec["checks"][name] = {"result": result, "detail": detail}


def decode_icmp(rec, ip, pkt):
    """The ND/SEND/FMIPv6 message of an ICMPv6 packet (an ndopt.Message or a record of wire/),
    its name, fields and option names in rec, with its checksum and hop limit checks."""
    p, src, dst = ip.payload, bytes(ip.src), bytes(ip.dst)
    t = p[0]
    rec["message"] = names.MESSAGES[t]
    f = rec["fields"]
    if t == fmip.ICMP_FMIP:
        m = fmip.parse(p)
        rec["message"] = names.FMIP_SUBTYPES[m.subtype]
        f.update(subtype=m.subtype, code=m.code, identifier=m.identifier)
    elif t in (certpath.ICMP_CPS, certpath.ICMP_CPA):
        m = certpath.parse(p)
        f.update(identifier=m.identifier, component=m.component)
        if t == certpath.ICMP_CPA:
            f["all_components"] = m.all_components
    else:
        m = ndopt.Message(p, ndopt.ND_FIXED[t])
        if t == ndopt.RA:
            f.update(cur_hop_limit=p[4], flags=p[5], router_lifetime=(p[6] << 8) | p[7])
        elif t in (ndopt.NS, ndopt.NA, ndopt.REDIRECT):
            f["target"] = addr(p[8:24])
        if t == ndopt.REDIRECT:
            f["destination"] = addr(p[24:40])
    rec["options"] = [names.OPTIONS.get(o[0], "type %d" % o[0]) for o in m.opts]
    check(rec, "checksum", "ok" if icmp6.checksum_ok(m.raw, src, dst) else "failed")
    check(rec, "hop_limit", "ok" if net.nd_hop_limit_ok(pkt) else "failed",
          "" if ip.hlim == 255 else "%d, ND needs 255 (crossed a router?)" % ip.hlim)
    nonce = m.option(ndopt.NONCE, ndopt.parse_nonce)
    if nonce is not None:
        f["nonce"] = bytes(nonce).hex()
    if rec["message"] == "RtSolPr":
        req = m.option(ndopt.HK_REQUEST, ndopt.parse_hk_request)
        if req:
            at, key = req
            f.update(hk_request_at=at, hk_request_key_bits=der.parse_spki(key).size * 8)
    elif rec["message"] == "CPA":
        certs = [bytes(c) for _, c in m.options(ndopt.CERTIFICATE, ndopt.parse_certificate)]
        if certs:
            f["certificates"] = [x509.parse(c).name() for c in certs]
    return m


def decode_mobility(rec, pkt):
    """(IPv6, home address or None, Fbu or Fback) of a Mobility Header packet, its fields in rec,
    with its checksum check."""
    ip, home, m = mh.parse_packet(pkt)
    f = rec["fields"]
    rec["options"] = [names.MH_OPTIONS.get(o[0], "type %d" % o[0]) for o in m.opts]
    if m.alt_coa is not None:
        f["alt_coa"] = addr(m.alt_coa)
    if home is not None:
        f["home"] = addr(home)
    check(rec, "checksum", "ok" if mh.checksum_ok(m, ip.src, ip.dst, home) else "failed")
    if m.type == mh.FBU:
        rec["message"] = "FBU"
        f.update(seq=m.seq, flags="".join(c for c, b in names.FBU_FLAGS if m.flags & b), lifetime=m.lifetime)
    else:
        rec["message"] = "FBack"
        f.update(status=m.status, k=m.k, seq=m.seq, lifetime=m.lifetime)
    return ip, home, m


class Pairing:
    """What earlier messages in the capture say about later ones: the solicitation an
    advertisement answers, the CPAs of one path, the handover keys and the FBU an FBack answers."""

    def __init__(self):
        self.rtsolprs = {}              # (MN, identifier) -> nonce of the RtSolPr
        self.sol_nonces = {}            # nonce -> set of sources of RS/NS carrying it
        self.cps = set()                # (source, identifier) of CPSs
        self.paths = {}                 # (router, identifier) -> (certificate DERs, CPA records, time)
        self.hkeys = {}                 # (AR, MN CGA) -> (key, at, expiry) from decrypted HK Replies
        self.fbus = {}                  # (PAR, seq) -> (MN CGA, coa) of the last FBU

    def icmp(self, rec, m, src, dst, now):
        """Remember a solicitation or CPA; the nonce an advertisement must echo (None: judge it
        by its timestamp), recording in rec whether its solicitation was seen."""
        nonce = m.option(ndopt.NONCE, ndopt.parse_nonce)
        nonce = bytes(nonce) if nonce is not None else None
        msg = rec["message"]
        mcast = dst[0] == 0xFF
        if msg == "RtSolPr":
            self.rtsolprs[(src, m.identifier)] = nonce
        elif msg in ("RS", "NS") and nonce is not None:
            self.sol_nonces.setdefault(nonce, set()).add(src)
        elif msg == "CPS":
            self.cps.add((src, m.identifier))
        elif msg == "PrRtAdv":
            if (dst, m.identifier) in self.rtsolprs:
                return self.rtsolprs[(dst, m.identifier)]
            check(rec, "nonce", "unchecked", "no RtSolPr %d from %s seen" % (m.identifier, addr(dst)))
        elif msg in ("RA", "NA") and nonce is not None:
            if mcast and nonce in self.sol_nonces or dst in self.sol_nonces.get(nonce, ()):
                return nonce
        elif msg == "CPA":
            if m.identifier:
                seen = any(i == m.identifier and (mcast or s == dst) for s, i in self.cps)
                check(rec, "identifier", "ok" if seen else "unchecked",
                      "matches a CPS" if seen else "no CPS %d seen" % m.identifier)
            certs = [bytes(c) for _, c in m.options(ndopt.CERTIFICATE, ndopt.parse_certificate)]
            if certs:
                had, recs, _ = self.paths.get((src, m.identifier), ([], [], now))
                self.paths[(src, m.identifier)] = (had + certs, recs + [rec], now)
        return None

    def mobility(self, m, src, dst, home):
        """(PAR, MN CGA, care-of address, why it cannot be checked or None) of an FBU or FBack."""
        if m.type == mh.FBU:
            # MN's CGA on the PAR link: the Home Address option (FBU from the PAR link) or the source.
            mn_cga = bytes(home) if home is not None else src
            coa = bytes(m.alt_coa) if m.alt_coa is not None else src
            self.fbus[(dst, m.seq)] = (mn_cga, coa)
            return dst, mn_cga, coa, None
        fbu = self.fbus.get((src, m.seq))
        if fbu is None:
            return src, None, None, "no FBU %d to %s seen" % (m.seq, addr(src))
        return (src,) + fbu + (None,)


class Checks:
    """The checks with what the user gave (--keys, --trust-anchor) and the capture-wide state
    the firmware's verifiers need (certified keys, the timestamp cache)."""

    def __init__(self, privs, anchors, known, pairing):
        self.privs = privs              # [(file, rsa.PrivateKey)] from --keys, None without it
        self.anchors = anchors          # [x509.Certificate] from --trust-anchor
        self.known = known              # {key hash: PublicKey} of certificates seen in CPAs
        self.pairing = pairing
        self.timestamps = send.Timestamps(size=1 << 16)

    def send(self, rec, m, src, dst, now, expect, solicitation):
        """CGA, then the signature (once, whatever the message's age: a stale message still
        shows whether it is authentic), then freshness at capture time with the capture-wide
        timestamp cache and the nonce to echo."""
        if m.find(ndopt.CGA):
            try:
                check(rec, "cga", "ok", "Sec %d" % cga.verify(src, m.option(ndopt.CGA, ndopt.parse_cga)))
            except (ParseError, VerifyError) as e:
                check(rec, "cga", "failed", e.args[0])
        ts = m.option(ndopt.TIMESTAMP, ndopt.parse_timestamp)
        if ts is not None:
            rec["fields"]["timestamp"] = ts / 65536
        try:
            s = send.Signed(m)
        except VerifyError as e:
            if e.code == "no_timestamp":
                check(rec, "timestamp", "failed", e.args[0])
                return check(rec, "signature", "unchecked", "a SEND message needs a Timestamp to be verified")
            return check(rec, "signature", "failed", e.args[0])
        try:
            v = send.check_signature(m, s, src, dst, known=self.known)
            certified = v.key_hash in self.known      # an MN takes a PrRtAdv only from the certified key
            check(rec, "signature", "ok", ("CGA key" + (", certified in a CPA" if certified else ""))
                  if v.sec is not None else "key of a certificate seen in a CPA")
        except VerifyError as e:
            if rec["checks"].get("cga", {}).get("result") == "failed":
                check(rec, "signature", "unchecked", "the CGA check failed")
            elif e.code == "unknown_key":
                check(rec, "signature", "unchecked", "no CGA option and no certificate with this key seen in a CPA")
            else:
                check(rec, "signature", "failed", e.args[0])
        offset = "%+.3f s from capture time" % (ts / 65536 - now)
        if rec["checks"]["signature"]["result"] != "ok":
            # Without a good signature the cache must not learn this timestamp: only look.
            try:
                self.timestamps.check(src, ts, clock.at(now))
                check(rec, "timestamp", "ok", offset)
            except VerifyError as e:
                check(rec, "timestamp", "failed", "%s (%s)" % (e.args[0], offset))
            return
        try:
            send.check_fresh(s, src, clock.at(now), timestamps=self.timestamps, nonce=expect, solicitation=solicitation)
            self.timestamps.accept(src, ts, clock.at(now))
            if expect is not None:
                check(rec, "nonce", "ok", "echoes the solicitation's nonce")
                check(rec, "timestamp", "ok", "%s (the nonce echo replaces the window check)" % offset)
            else:
                check(rec, "timestamp", "ok", offset)
        except VerifyError as e:
            name = "nonce" if e.code in ("nonce", "no_nonce") else "timestamp"
            check(rec, name, "failed", e.args[0] if name == "nonce" else "%s (%s)" % (e.args[0], offset))

    def paths(self):
        """Validate each router's path (all CPAs of one identifier) at the last CPA's time."""
        for (router, ident), (certs, recs, now) in self.pairing.paths.items():
            if not self.anchors:
                result, detail = "unchecked", "give --trust-anchor CERT to validate it"
            else:
                try:
                    leaf = x509.validate_path(certs, self.anchors, int(now))
                    result, detail = "ok", "%s, valid at capture time" % leaf.name()
                except (ParseError, VerifyError) as e:
                    result, detail = "failed", e.args[0]
            for rec in recs:
                check(rec, "path", result, detail)

    def hk_reply(self, rec, m, src, dst, now):
        reply = m.option(ndopt.HK_REPLY, ndopt.parse_hk_reply)
        if not reply:
            return
        at, lifetime, enc = reply
        hk = rec["handover_key"] = {"at": at, "lifetime": lifetime, "key": None}
        if self.privs is None:
            return check(rec, "handover_key", "unchecked", "give --keys DIR to decrypt it")
        for name, priv in self.privs:
            if priv.size != len(enc):
                continue
            try:
                key = rsa.decrypt(priv, bytes(enc))
            except CryptoError:
                continue
            if len(key) == badf.key_len(at):       # a wrong key rarely unpads, never to this length
                hk["key"] = key.hex()
                self.pairing.hkeys[(src, dst)] = (key, at, now + lifetime)
                return check(rec, "handover_key", "ok", "decrypted with %s" % name)
        check(rec, "handover_key", "unchecked", "none of the %d keys given decrypts it" % len(self.privs))

    def badf(self, rec, m, par, mn_cga, coa, what, now):
        if self.privs is None:
            return check(rec, "badf", "unchecked", "give --keys DIR to check it")
        hkeys = self.pairing.hkeys
        if what is None and (par, mn_cga) not in hkeys:
            what = "no Handover Key Reply from %s to %s decrypted" % (addr(par), addr(mn_cga))
        if what:
            return check(rec, "badf", "unchecked", what)
        key, at, expiry = hkeys[(par, mn_cga)]
        if not badf.verify(key, at, m, coa, par):
            check(rec, "badf", "failed", "authenticator does not match the handover key (AT %d)" % at)
        elif now >= expiry:
            check(rec, "badf", "failed", "handover key expired %.0f s before" % (now - expiry))
        else:
            check(rec, "badf", "ok", "AT %d key of %s" % (at, addr(par)))


class Inspector:
    """One pass over a capture in order: each packet decoded, paired with what came before,
    then checked."""

    def __init__(self, privs, anchors, known):
        self.pairing = Pairing()
        self.checks = Checks(privs, anchors, known, self.pairing)
        self.records = []

    def packet(self, index, now, pkt, note):
        rec = {"index": index, "time": now, "src": None, "dst": None, "size": len(pkt), "hop_limit": None,
               "message": None, "fields": {}, "options": [], "handover_key": None, "secured": False,
               "checks": {}}
        try:
            ip = icmp6.IPv6(pkt)
            # size from the header: link-layer padding (short Ethernet frames) is not the packet's
            rec.update(src=addr(ip.src), dst=addr(ip.dst), hop_limit=ip.hlim, size=icmp6.IPV6_HLEN + len(ip.payload))
            if ip.nh == icmp6.NH_ICMPV6:
                t = ip.payload[0] if len(ip.payload) else None
                if t not in net.ND_TYPES:
                    return
                self.icmp(rec, ip, pkt, now)
            elif ip.nh in (icmp6.NH_MH, icmp6.NH_DSTOPTS):
                rec["message"] = "MH"
                self.mobility(rec, pkt, now)
            else:
                return
        except ParseError as e:
            if e.code == "no_mh":                     # destination options before something else
                return
            rec["message"] = rec["message"] or "?"
            if e.code == "mh_type":                   # Mobile IPv6 signalling other than FMIPv6
                check(rec, "decode", "unchecked", "a Mobility Header other than FBU/FBack")
            else:
                check(rec, "decode", "failed", e.args[0] + (" (%s)" % note if note else ""))
        self.records.append(rec)

    def icmp(self, rec, ip, pkt, now):
        src, dst = bytes(ip.src), bytes(ip.dst)
        m = decode_icmp(rec, ip, pkt)
        expect = self.pairing.icmp(rec, m, src, dst, now)
        signed = m.sig >= 0 or m.find(ndopt.CGA)
        if signed or "certificates" in rec["fields"]:
            rec["secured"] = True
        if signed:
            self.checks.send(rec, m, src, dst, now, expect, rec["message"] in ("RS", "NS", "RtSolPr", "CPS"))
        if rec["message"] == "PrRtAdv":
            self.checks.hk_reply(rec, m, src, dst, now)

    def mobility(self, rec, pkt, now):
        ip, home, m = decode_mobility(rec, pkt)
        par, mn_cga, coa, what = self.pairing.mobility(m, bytes(ip.src), bytes(ip.dst), home)
        if m.badf is not None:
            rec["secured"] = True
            self.checks.badf(rec, m, par, mn_cga, coa, what, now)

    def finish(self):
        self.checks.paths()


def verdict(rec):
    results = [c["result"] for c in rec["checks"].values()]
    return "failed" if "failed" in results else "unchecked" if "unchecked" in results else "ok"


def cpa_keys(packets):
    """{key hash: PublicKey} of every certificate in the capture's CPAs: the keys that sign
    SEND messages without a CGA option."""
    known = {}
    for _, pkt, _ in packets:
        try:
            ip = icmp6.IPv6(pkt)
            if ip.nh != icmp6.NH_ICMPV6 or not len(ip.payload) or ip.payload[0] != certpath.ICMP_CPA:
                continue
            m = certpath.parse(ip.payload)
            for _, c in m.options(ndopt.CERTIFICATE, ndopt.parse_certificate):
                k = x509.parse(c).public_key
                if k is not None:
                    known[send.key_hash(der.encode_spki(k))] = k
        except ParseError:
            continue                    # the main pass reports it
    return known


def load_private_keys(directory):
    out = []
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        data = path.read_bytes()
        if b"PRIVATE KEY-----" not in data:
            continue
        try:
            for label, d in der.pem_decode(data):
                if label.endswith("PRIVATE KEY"):
                    out.append((str(path.relative_to(directory)), der.parse_private_key(d)))
        except ParseError as e:
            raise InspectError("--keys: %s: %s; remove it or fix it (an unencrypted PEM RSA key)" % (path, e.args[0]))
    if not out:
        raise InspectError("--keys %s: no PEM private key in it or below it; give a bundle directory "
                           "such as build/demo/mn (key.pem, hkepk.pem)" % directory)
    return out


def load_anchor(path):
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InspectError("--trust-anchor %s: %s" % (path, e.strerror))
    try:
        blocks = [d for label, d in der.pem_decode(data) if label == "CERTIFICATE"] if b"-----BEGIN" in data else [data]
        if not blocks:
            raise ParseError("no CERTIFICATE block")
        return [x509.parse(d) for d in blocks]
    except ParseError as e:
        raise InspectError("--trust-anchor %s: %s; give the trust anchor certificate (PEM or DER)"
                           % (path, e.args[0]))


def show(records, skipped):
    table = Table(show_lines=True)
    for col in ("#", "time", "src → dst", "message", "len/hlim", "checks"):
        table.add_column(col, overflow="fold")
    t0 = records[0]["time"] if records else 0
    for r in records:
        f = r["fields"]
        what = r["message"] + "".join(" %s=%s" % (k, f[k]) for k in ("code", "identifier", "seq", "status", "k")
                                      if k in f)
        if r["handover_key"]:
            hk = r["handover_key"]
            what += "\nHK Reply AT %d lifetime %d s%s" % (hk["at"], hk["lifetime"], "" if hk["key"] else " (encrypted)")
        checks = Text("\n").join(Text.assemble(("%s %s" % (n, c["result"]), COLORS[c["result"]]),
                                                ": " + c["detail"] if c["detail"] else "")
                                  for n, c in r["checks"].items())
        table.add_row(str(r["index"]), "%+.3f" % (r["time"] - t0), "%s\n→ %s" % (r["src"], r["dst"]), what,
                      "%s/%s" % (r["size"], r["hop_limit"]), checks)
    console = Console()
    console.print(table)
    # Keys and failures again as whole lines: table cells wrap on a narrow terminal.
    for r in records:
        if r["handover_key"] and r["handover_key"]["key"]:
            console.print("#%d %s handover key %s" % (r["index"], r["message"], r["handover_key"]["key"]),
                          highlight=False, soft_wrap=True)
        for name, c in r["checks"].items():
            if c["result"] == "failed":
                console.print("#%d %s: %s failed: %s" % (r["index"], r["message"], name, c["detail"]),
                              style=COLORS["failed"], highlight=False, soft_wrap=True)
    counts = {v: sum(1 for r in records if r["verdict"] == v) for v in COLORS}
    console.print("%d messages: %d ok, %d failed, %d not fully checkable; %d other packets skipped"
                  % (len(records), counts["ok"], counts["failed"], counts["unchecked"], skipped))


JSON_HELP = """\b
--json prints a list with one record per message:
  index         packet number in the capture, from 1
  time          capture time, Unix seconds
  src, dst      IPv6 addresses; size: IPv6 packet octets; hop_limit
  message       RS, RA, NS, NA, Redirect, CPS, CPA, RtSolPr, PrRtAdv, FBU, FBack
  fields        identifier, code, component, seq, status, flags, nonce (hex),
                timestamp (Unix s), certificates, hk_request_at, alt_coa, home, ...
  options       option names in order
  handover_key  PrRtAdv with a HK Reply: {at, lifetime, key (hex, or null)}
  secured       carries a CGA or RSA Signature option, a BADF or certificates
  checks        {name: {result: ok|failed|unchecked, detail}} for decode,
                checksum, hop_limit, cga, signature, timestamp, nonce,
                identifier, handover_key, badf, path
  verdict       failed if a check failed, else unchecked if one could not be
                made, else ok

\b
Exit status: 0 no secured (or undecodable) message failed a check,
1 one did, 2 the capture or an option cannot be used."""


@click.command(epilog=JSON_HELP)
@click.argument("capture", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list of message records (fields below).")
@click.option("--keys", "keys_dir", type=click.Path(file_okay=False),
              help="Directory searched recursively for PEM private keys (e.g. an MN bundle): decrypts "
                   "Handover Key Replies and checks BADF authenticators with the keys.")
@click.option("--trust-anchor", "anchors", multiple=True, type=click.Path(dir_okay=False),
              help="Trust anchor certificate (PEM or DER) to validate the paths in CPAs; repeatable.")
def cli(capture, as_json, keys_dir, anchors):
    """Decode and check the ND, SEND, FMIPv6 and FBU/FBack messages in CAPTURE (classic pcap:
    Ethernet, Linux SLL/SLL2 or raw IPv6).

    Each message gets its CGA, SEND signature, timestamp (against the capture time, replays
    within the capture included) and nonce checks; with --keys the handover keys and BADFs,
    with --trust-anchor the certification paths. "unchecked" (e.g. a BADF without --keys)
    is not a failure."""
    if keys_dir is not None and not Path(keys_dir).is_dir():
        raise InspectError("--keys %s: no such directory; give the directory holding the MN's key files" % keys_dir)
    privs = load_private_keys(keys_dir) if keys_dir is not None else None
    trust = [c for a in anchors for c in load_anchor(a)]
    records, skipped, warning = inspect_capture(capture, privs, trust)
    if warning:
        click.echo("warning: " + warning, err=True)
    if not records:
        raise InspectError("nothing to inspect: none of the %d packets in %s is an ND, SEND, FMIPv6 or Mobility "
                           "Header message; capture on the access router's link, e.g. tcpdump -i br-lan -w "
                           "x.pcap 'icmp6 or ip6 proto 135'" % (skipped, capture))
    if as_json:
        click.echo(json.dumps(records, indent=1))
    else:
        show(records, skipped)
    sys.exit(1 if failures(records) else 0)


def inspect_capture(capture, privs=None, trust=()):
    """(message records with their checks and verdict, packets skipped, warning or None) of a
    pcap. privs: [(name, rsa.PrivateKey)] (load_private_keys) for HK Replies and BADFs;
    trust: trust anchor certificates (load_anchor) for the paths in CPAs."""
    try:
        packets, warning = pcapfile.read(capture)
    except pcapfile.PcapError as e:
        raise InspectError(str(e))
    insp = Inspector(privs, list(trust), cpa_keys(p for p in packets if p[1] is not None))
    skipped = 0
    for i, (now, pkt, note) in enumerate(packets, 1):
        n = len(insp.records)
        if pkt is not None:
            insp.packet(i, now, pkt, note)
        skipped += len(insp.records) == n
    insp.finish()
    for r in insp.records:
        r["verdict"] = verdict(r)
    return insp.records, skipped, warning


def failures(records):
    """The records that fail: a secured message with a failed check, or one that does not decode."""
    return [r for r in records if r["verdict"] == "failed" and (r["secured"] or "decode" in r["checks"])]
