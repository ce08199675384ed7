"""The hostile link (issue 12): the simulation's AR daemon under MicroPython, a
legitimate MN doing whole CPS/CPA -> RtSolPr/PrRtAdv -> FBU/FBack exchanges over
and over, and an attacker node flooding the bridge for a bounded time. Each flood
is measured as: attack rate achieved, the legitimate exchanges' success rate and
p50/p99 latency, the AR's CPU share and RSS.

The MN and the attacker run in their own namespaces as CPython processes
(`python -m fmipkey_tools.hostile mn|blast|relay ...`): the MN is the firmware's
MobileNode engine over the firmware's Linux link driver; the attacker sends
frames built here beforehand (forged, replayed, unsecured, fresh-CGA and
malformed packets), or runs thc-ipv6 (Debian thc-ipv6, tools named atk6-*)."""
import json
import os
import random
import select
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import click
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa as crsa, utils

from fmipkey import clock, config, identity, send
from fmipkey.crypto import cga
from fmipkey.errors import ParseError
from fmipkey.wire import certpath, fmip, icmp6, mh, ndopt
from fmipkey.main import MN_MH, MN_TYPES
from fmipkey_tools import sim as simmod

ALL_ROUTERS = icmp6.ALL_ROUTERS
ATTACKER_MAC = b"\x02\x00\x00\x00\x0a\x0c"   # unicast: a bridge drops frames from a group MAC
EXCHANGE_CAP = 3.0     # s: an exchange not done by then counts as failed
EXCHANGE_GAP = 0.4     # s from one exchange's start to the next: an MN sends 3 RtSolPrs/s at most
THC = {"thc_router26": ["atk6-flood_router26", "eth0"],
       "thc_solicitate6": ["atk6-flood_solicitate6", "eth0"],
       "thc_sendpees6": ["atk6-sendpees6", "thc0", "1024", "2001:db8:1::", "{ar}"]}


# ---- inside the namespaces ------------------------------------------------------

def _link(ifname):
    from fmipkey.net.linux import Link
    return Link(ifname)


def mn_loop(bundle, until, start_at=0.0, once=False):
    """Whole exchanges from `start_at` until `until` (epoch s), one every EXCHANGE_GAP, each by
    a fresh MobileNode (as after an attach) that carries on the FBU sequence numbers; returns
    [(start, seconds to the key or None, seconds to the FBack or None)]."""
    from fmipkey.mn import DONE, FAILED, KEYED, MobileNode
    cfg = config.load(bundle + "/config.json")
    settings = config.settings(cfg)
    ident = identity.load(bundle, cfg)
    anchors = identity.certificates(bundle, cfg["anchors_file"])
    pool = identity.private_keys(bundle, cfg["hkepk_file"])
    ncoa = simmod.ncoa_for(ident.cga_params, cfg["cga_sec"])
    link = _link(cfg["interface"])
    link.guard(MN_TYPES, 0, MN_MH)       # as the MN daemon does
    poll = select.poll()
    poll.register(link.fileno(), select.POLLIN)
    results, seq = [], None
    clk = clock.Clock()
    while time.time() < start_at:
        time.sleep(0.001)
    while time.time() < until:
        mn = MobileNode(settings, ident, anchors, pool)
        if seq is not None:
            mn.fbus.seq = seq
        t0 = time.time()
        keyed = None
        out = mn.start(clk.now())
        last_tick = t0
        while True:
            for pkt in out:
                link.send(pkt)
            out = []
            now = time.time()
            if mn.state in (DONE, FAILED) or now - t0 > EXCHANGE_CAP:
                break
            if poll.poll(20):
                r = link.recv()
                while r is not None:
                    out.extend(mn.handle(r[0], clk.now()) or ())
                    r = link.recv()
            now = time.time()
            if now - last_tick >= 0.02:
                last_tick = now
                out.extend(mn.tick(clk.now()) or ())
            if mn.state == KEYED and keyed is None:
                keyed = time.time() - t0
                out.extend(mn.fbu(mn.router, ncoa, clk.now()))
        seq = mn.fbus.seq
        results.append((t0, keyed, time.time() - t0 if mn.state == DONE else None))
        if once:
            break
        time.sleep(max(0.0, t0 + EXCHANGE_GAP - time.time()))
    link.close()
    return results


def _raw(ifname, proto=0):
    """An AF_PACKET socket on ifname; proto 0 sends only, ETH_P_ALL (3) receives every frame."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
    s.bind((ifname, proto))
    return s


def blast(ifname, frames, rate, duration, start_at=0.0):
    """From `start_at` (epoch s), send `frames` round robin at `rate` per second (0: as fast as
    possible) until `start_at + duration`; returns how many were sent and for how many seconds
    (less than `duration` when this process started late)."""
    s = _raw(ifname)
    while time.time() < start_at:
        time.sleep(0.001)
    # the flood ends at start_at + duration even when this process started late (a busy host)
    late = max(0.0, time.time() - start_at) if start_at else 0.0
    n, t0 = len(frames), time.monotonic() - late
    sent = skipped = int(late * rate)
    while True:
        t = time.monotonic() - t0
        if t >= duration:
            break
        due = int(t * rate) if rate else sent + 512
        while sent < due:
            try:
                s.send(frames[sent % n])
            except OSError:    # ENOBUFS: the queue is full, the frame is lost
                pass
            sent += 1
        if rate:
            time.sleep(0.0005)
    return sent - skipped, duration - late


def relay(src, dst, duration):
    """Frames arriving on `src` go out on `dst` from ATTACKER_MAC: Debian's sendpees6 sends
    from a group MAC (dd:de:ad:be:ef:ff), which a bridge drops."""
    a, b = _raw(src, 3), _raw(dst)
    a.settimeout(0.1)
    end, n = time.time() + duration, 0
    while time.time() < end:
        try:
            f = a.recv(2048)
        except socket.timeout:
            continue
        b.send(f[:6] + ATTACKER_MAC + f[12:])
        n += 1
    return n


@click.group()
def cli():
    """Processes the hostile-link harness runs inside the simulation's namespaces."""


def _sync():
    """Tell the harness this process is up (a busy host may take seconds to start Python),
    then take the flood's start and end (epoch s) from it."""
    print("ready", flush=True)
    return [float(x) for x in sys.stdin.readline().split()]


@cli.command("mn")
@click.argument("bundle")
@click.option("--once", is_flag=True)
@click.option("--after", type=float, default=0.0, help="start as the flood ends, stop this much later")
def mn_cmd(bundle, once, after):
    start_at, until = _sync()
    if after:
        start_at, until = until, until + after
    json.dump(mn_loop(bundle, until, start_at, once), sys.stdout)


@cli.command("blast")
@click.argument("ifname")
@click.argument("frames", type=click.Path(exists=True))
@click.argument("rate", type=float)
def blast_cmd(ifname, frames, rate):
    frames = read_frames(frames)
    start_at, until = _sync()
    print("%d %.3f" % blast(ifname, frames, rate, until - start_at, start_at))


@cli.command("relay")
@click.argument("src")
@click.argument("dst")
@click.argument("duration", type=float)
def relay_cmd(src, dst, duration):
    print(relay(src, dst, duration))


class KeyClient:
    """Asks the AR for handover keys from fresh Sec 0 CGAs and checks them with FBUs, as many
    MNs would (the crash-safety cycles). Runs inside an MN's namespace."""

    def __init__(self, ifname, ar_addr, nkeys=8):
        self.link = _link(ifname)
        self.ar = ar_addr
        self.prefix = config.parse_prefix(simmod.AR_PREFIX)
        self.keys = [crsa.generate_private_key(65537, 1024) for _ in range(nkeys)]
        self.spkis = [_spki(k) for k in self.keys]
        self.hkepk = {}       # CGA -> the private key its key is encrypted to
        self.seq = {}         # CGA -> last FBU sequence number sent
        self.n = 0
        self.poll = select.poll()
        self.poll.register(self.link.fileno(), select.POLLIN)

    def _packets(self, until):
        while True:
            left = until - time.time()
            if left <= 0:
                return
            if self.poll.poll(int(left * 1000) + 1):
                r = self.link.recv()
                while r is not None:
                    yield r[0]
                    r = self.link.recv()

    def ask(self, count, wait):
        """Send `count` key requests from new CGAs; returns [(cga, at, key)] of the Handover Key
        Replies that arrive within `wait` s."""
        rng = random.Random(self.n)
        for _ in range(count):
            i = self.n
            self.n += 1
            params = cga.encode(os.urandom(16), self.prefix, 0, self.spkis[i % len(self.keys)])
            src = cga.address(params, 0)
            hk = self.keys[(i + 1) % len(self.keys)]
            self.hkepk[src] = hk
            body = _hk_request_body(rng, self.spkis[(i + 1) % len(self.keys)])
            msg = _signed(body, src, params, self.keys[i % len(self.keys)], time.time(), os.urandom(6))
            icmp6.set_checksum(msg, src, ALL_ROUTERS)
            self.link.send(icmp6.ipv6_header(src, ALL_ROUTERS, icmp6.NH_ICMPV6, len(msg)) + bytes(msg))
        got = []
        for pkt in self._packets(time.time() + wait):
            ip = icmp6.IPv6(pkt)
            dst = bytes(ip.dst)
            if ip.nh != icmp6.NH_ICMPV6 or dst not in self.hkepk or ip.payload[0] != fmip.ICMP_FMIP:
                continue
            m = fmip.parse(ip.payload)
            reply = m.option(ndopt.HK_REPLY, ndopt.parse_hk_reply)
            if isinstance(m, fmip.PrRtAdv) and reply is not None:
                at, _, enc = reply
                got.append((dst, at, self.hkepk[dst].decrypt(bytes(enc), padding.PKCS1v15())))
        return got

    def fbu(self, mn, at, key, wait):
        """An FBU from `mn` authenticated with `key`; the FBack's status, or None if none came."""
        from fmipkey import badf
        seq = self.seq[mn] = (self.seq.get(mn, 0) + 1) & 0xFFFF
        ncoa = config.parse_prefix(simmod.NAR_PREFIX) + mn[8:]
        m, off = mh.Fbu.emit(seq, 300, alt_coa=ncoa, auth_len=badf.auth_len(at))
        badf.sign(key, at, m, off, ncoa, self.ar)
        self.link.send(mh.packet(mn, self.ar, m, home=mn, hlim=255))
        for pkt in self._packets(time.time() + wait):
            try:
                ip, _, r = mh.parse_packet(pkt)
            except ParseError:
                continue
            if isinstance(r, mh.Fback) and bytes(ip.dst) == mn and r.seq == seq and badf.verify(key, at, r, ncoa, self.ar):
                return r.status
        return None


def key_client(ifname, ar_hex):
    """The KeyClient behind a line protocol on stdin/stdout: `ask N WAIT` -> one line per key
    (cga at key, hex) then `end`; `fbu CGA AT KEY WAIT` -> the FBack's status or `none`."""
    c = KeyClient(ifname, bytes.fromhex(ar_hex))
    print("ready", flush=True)
    for line in sys.stdin:
        w = line.split()
        if w[0] == "ask":
            for mn, at, key in c.ask(int(w[1]), float(w[2])):
                print(mn.hex(), at, key.hex())
            print("end", flush=True)
        elif w[0] == "fbu":
            st = c.fbu(bytes.fromhex(w[1]), int(w[2]), bytes.fromhex(w[3]), float(w[4]))
            print("none" if st is None else st, flush=True)


@cli.command("keyclient")
@click.argument("ifname")
@click.argument("ar_hex")
def keyclient_cmd(ifname, ar_hex):
    key_client(ifname, ar_hex)


def write_frames(path, frames):
    with open(path, "wb") as f:
        for fr in frames:
            f.write(struct.pack(">H", len(fr)) + fr)


def read_frames(path):
    data, out, off = Path(path).read_bytes(), [], 0
    while off < len(data):
        n = struct.unpack_from(">H", data, off)[0]
        out.append(data[off + 2:off + 2 + n])
        off += 2 + n
    return out


# ---- the attacks' packets (built on the host) ----------------------------------

def _frame(dst_mac, src, dst, msg):
    icmp6.set_checksum(msg, src, dst)
    return dst_mac + ATTACKER_MAC + b"\x86\xdd" + icmp6.ipv6_header(src, dst, icmp6.NH_ICMPV6, len(msg)) + bytes(msg)


def spread_macs(frames, rng):
    """The frames from a new random unicast MAC each: on a bridge (unlike a Wi-Fi AP, where a
    station must associate first) an attacker can defeat limits per link-layer source."""
    return [f[:6] + bytes((rng.getrandbits(8) & 0xFC | 0x02,)) + bytes(rng.getrandbits(8) for _ in range(5)) + f[12:]
            for f in frames]


def _rand_addr(rng, prefix8):
    return prefix8 + bytes(rng.getrandbits(8) for _ in range(8))


def _hk_request_body(rng, spki):
    return fmip.RtSolPr.emit(rng.getrandbits(16) or 1, ndopt.fmip_lla(ndopt.LLA_WILDCARD, b"") + ndopt.hk_request(0, spki))


def _spki(k):
    return k.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _signed(body, src, params, ckey, now, nonce):
    """send.message with the signature from OpenSSL (cryptography): fast enough to mint
    thousands of valid RtSolPrs; send._digest is the firmware's signed-data digest."""
    msg = bytearray(body) + ndopt.cga(params) + ndopt.timestamp(send.ts_units(now)) + ndopt.nonce(nonce)
    digest = send._digest(memoryview(msg), len(msg), src, ALL_ROUTERS)
    sig = ckey.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))
    msg.extend(ndopt.rsa_sig(send.key_hash(params[25:]), sig))
    return msg


class Attacks:
    """Frames for each flood kind. `keys`: the attacker's RSA keys (Sec 0 CGAs are free)."""

    def __init__(self, sim, nkeys=256, seed=12):
        self.rng = random.Random(seed)
        self.prefix = config.parse_prefix(simmod.AR_PREFIX)
        self.mcast = b"\x33\x33\x00\x00\x00\x02"      # all-routers
        self.sim = sim
        self.keys = [crsa.generate_private_key(65537, 1024) for _ in range(nkeys)]
        self.spkis = [_spki(k) for k in self.keys]

    def _cga(self, i):
        params = cga.encode(os.urandom(16), self.prefix, 0, self.spkis[i % len(self.keys)])
        return params, cga.address(params, 0)

    def build(self, kind, n, spread=False):
        frames = getattr(self, kind)(n)
        return spread_macs(frames, self.rng) if spread else frames

    def rtsolpr_forged(self, n):
        """Valid CGA option, fresh timestamps, a garbage signature: it costs the AR an RSA verify."""
        params, src = self._cga(0)
        now, out = time.time(), []
        for i in range(n):
            msg = bytearray(_hk_request_body(self.rng, self.spkis[1])) + ndopt.cga(params) \
                + ndopt.timestamp(send.ts_units(now + i * 1e-3)) + ndopt.nonce(os.urandom(6)) \
                + ndopt.rsa_sig(send.key_hash(self.spkis[0]), os.urandom(128))
            out.append(_frame(self.mcast, src, ALL_ROUTERS, msg))
        return out

    def rtsolpr_replay(self, n):
        """One valid RtSolPr of another MN (mn2's bundle) captured and sent again and again."""
        b = str(self.sim.dirs["mn2"])
        cfg = config.load(b + "/config.json")
        ident = identity.load(b, cfg)
        hk = identity.private_keys(b, cfg["hkepk_file"])[0]
        from fmipkey.crypto import der
        body = _hk_request_body(self.rng, der.encode_spki(hk.public))
        msg = send.message(ident.addr, ALL_ROUTERS, body, ident.key, cga_params=ident.cga_params,
                           now=clock.at(time.time()), nonce=os.urandom(6))
        return [_frame(self.mcast, ident.addr, ALL_ROUTERS, msg)]

    def rtsolpr_unsecured(self, n):
        """Plain RtSolPrs (no SEND options), each from another address."""
        return [_frame(self.mcast, _rand_addr(self.rng, self.prefix), ALL_ROUTERS,
                       fmip.RtSolPr.emit(self.rng.getrandbits(16) or 1, ndopt.fmip_lla(ndopt.LLA_WILDCARD, b"")))
                for _ in range(n)]

    def cps(self, n):
        """CPS to all-routers, each from another link-local address."""
        return [_frame(self.mcast, _rand_addr(self.rng, simmod.LINK_LOCAL), ALL_ROUTERS,
                       certpath.Cps.emit(self.rng.getrandbits(16) or 1)) for _ in range(n)]

    def cga_fresh(self, n):
        """Every RtSolPr from a new Sec 0 CGA with a valid signature and a Handover Key Request."""
        now, out = time.time(), []
        for i in range(n):
            params, src = self._cga(i)
            body = _hk_request_body(self.rng, self.spkis[(i + 1) % len(self.keys)])
            msg = _signed(body, src, params, self.keys[i % len(self.keys)], now, os.urandom(6))
            out.append(_frame(self.mcast, src, ALL_ROUTERS, msg))
        return out

    def malformed(self, n):
        """Mutated valid packets (RtSolPr, CPS, FBU) and random ones, ICMPv6 and Mobility Header."""
        good = [f[14:] for f in self.rtsolpr_forged(4) + self.rtsolpr_replay(1) + self.cps(4)]
        src = _rand_addr(self.rng, self.prefix)
        m, _ = mh.Fbu.emit(7, 300, alt_coa=src, auth_len=12)
        good.append(mh.packet(src, self.sim_ar_addr(), m, home=src, hlim=255))
        return [b"\x33\x33\x00\x00\x00\x02" + ATTACKER_MAC + b"\x86\xdd" + mutate(self.rng, good) for _ in range(n)]

    def sim_ar_addr(self):
        return ar_addr(self.sim)


def ar_addr(sim):
    """The AR's CGA in a simulation's bundles."""
    b = str(sim.dirs["ar"])
    return identity.load(b, config.load(b + "/config.json")).addr


def mutate(rng, good):
    """A malformed packet: a valid one with bytes flipped, cut short or extended, or random bytes
    behind an IPv6 header (ICMPv6 or MH); the payload length field is usually made to match."""
    p = bytearray(rng.choice(good))
    k = rng.randrange(4)
    if k == 0:
        for _ in range(rng.randrange(1, 8)):
            p[rng.randrange(40, len(p))] = rng.getrandbits(8)
    elif k == 1:
        del p[rng.randrange(40, len(p)):]
    elif k == 2:
        p.extend(os.urandom(rng.randrange(1, 64)))
    else:
        p[6] = rng.choice((58, 135, 60))
        p[40:] = os.urandom(rng.randrange(0, 200))
    if rng.random() < 0.9:
        struct.pack_into(">H", p, 4, len(p) - 40)
    p[7] = 255
    return bytes(p)


# ---- on the host: the link, the floods, the measurements -----------------------

def _results(text, who):
    try:
        return json.loads(text)
    except ValueError:
        raise click.ClickException("%s failed: %s" % (who, text.strip()[-2000:]))


def _stat(pid):
    """(CPU seconds used, RSS in MiB) of a process."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    with open("/proc/%d/status" % pid) as f:
        rss = [int(l.split()[1]) for l in f if l.startswith("VmRSS:")][0] / 1024
    return cpu, rss


def _pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else None


class HostileLink:
    """The simulated link: one AR daemon, the legitimate MN mn, mn2 (whose RtSolPr the replay
    flood sends), mn3 (new to the AR until a fresh-CGA flood ends) and the attacker node atk."""

    def __init__(self, out, sec=1):
        self.sim = simmod.Sim(out, sec=sec, mns=3)
        self.sim.names.append("atk")    # a node on the bridge with no bundle

    def __enter__(self):
        self.sim.__enter__()
        try:
            self.ar = self.sim.daemon("ar", export=False)   # hk.json of a full store is not the point
            self.attacks = Attacks(self.sim)
        except BaseException:
            self.sim.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        self.sim.__exit__()

    def _py(self, node, args, log, stdin=None):
        return self.sim.link.spawn(node, [sys.executable, "-m", "fmipkey_tools.hostile"] + args, log, stdin=stdin)

    def _counters(self):
        try:
            return json.loads((self.sim.dirs["ar"] / "counters.json").read_text())
        except (OSError, ValueError):
            return {}

    def _tx(self):
        return int(self.sim.link.exec_(self.sim.link.ns["atk"], "cat", "/sys/class/net/eth0/statistics/tx_packets"))

    def flood(self, rate, duration, frames=None, thc=None, new_mn=False):
        """One measured flood of `frames` at `rate` (0: as fast as the attacker can), or of a
        thc-ipv6 tool, or none; returns its figures. new_mn: mn3, a node the AR has not seen,
        asks for a key as the flood ends (new_mn_key_s: seconds from the end until it has one)."""
        out = self.sim.out
        log = open(out / "hostile.log", "a")
        atk = []
        if frames is not None:
            write_frames(out / "frames.bin", frames)
        pipe = subprocess.PIPE
        mn = self._py("mn", ["mn", str(self.sim.dirs["mn"])], pipe, pipe)
        mn3 = self._py("mn3", ["mn", str(self.sim.dirs["mn3"]), "--once", "--after", repr(EXCHANGE_CAP)],
                       pipe, pipe) if new_mn else None
        if frames is not None:
            atk.append(self._py("atk", ["blast", "eth0", str(out / "frames.bin"), repr(rate)], pipe, pipe))
        procs = [p for p in [mn, mn3] + atk if p is not None]
        for p in procs:
            line = p.stdout.readline()
            if line != b"ready\n":
                p.kill()
                text = (line + p.stdout.read()).decode(errors="replace")
                raise click.ClickException("a process of the hostile link did not start: %s" % text[-2000:])
        t_start = time.time() + 0.5       # all are up: each reads this and waits for it
        until = t_start + duration
        for p in procs:
            p.stdin.write(b"%r %r\n" % (t_start, until))
            p.stdin.flush()
        while time.time() < t_start:
            time.sleep(0.001)
        cpu0, _ = _stat(self.ar.pid)
        tx0, c0, w0 = self._tx(), self._counters(), time.time()
        if thc is not None:
            atk += self._thc(thc, duration, log)
        rss = []
        while mn.poll() is None:
            rss.append(_stat(self.ar.pid)[1])
            time.sleep(0.2)
        cpu1, rss1 = _stat(self.ar.pid)
        w1 = time.time()
        flooded = duration
        if frames is not None:
            text = atk[0].communicate(timeout=duration + 30)[0]
            try:
                sent, flooded = int(text.split()[0]), float(text.split()[1])
            except (ValueError, IndexError):
                raise click.ClickException("the attacker failed (hostile.log has its errors): %r" % text)
        else:
            for p in atk:
                simmod.stop(p, timeout=5)
            sent = self._tx() - tx0
        time.sleep(1.2)                  # counters_interval 1 s
        c1 = self._counters()
        res = _results(mn.stdout.read(), "the legitimate MN")
        fig = self._figures(res, sent / duration, (cpu1 - cpu0) / (w1 - w0), max(rss + [rss1]), c0, c1)
        fig["attack_s"] = round(flooded, 2)
        if mn3 is not None:
            r = _results(mn3.communicate(timeout=EXCHANGE_CAP + 30)[0], "the new MN")
            fig["new_mn_key_s"] = round(r[0][1], 3) if r and r[0][1] is not None else None
        log.close()
        return fig

    def _thc(self, tool, duration, log):
        ns = self.sim.link.ns["atk"]
        cmd = [c.format(ar=config.format_addr(self.attacks.sim_ar_addr())) for c in THC[tool]]
        procs = []
        if tool == "thc_sendpees6":
            # its own veth pair with an IPv6 address (sendpees6 wants one); a relay takes the
            # frames to the bridge from a unicast MAC
            if "thc0" not in self.sim.link.exec_(ns, "ip", "link"):
                self.sim.link.exec_(ns, "ip", "link", "add", "thc0", "type", "veth", "peer", "name", "thc1")
                for s in ("net.ipv6.conf.thc0.disable_ipv6=0", "net.ipv6.conf.thc0.accept_dad=0"):
                    self.sim.link.exec_(ns, "sysctl", "-q", "-w", s)
                self.sim.link.exec_(ns, "ip", "link", "set", "thc1", "up")
                self.sim.link.exec_(ns, "ip", "link", "set", "thc0", "up")
                self.sim.link.exec_(ns, "ip", "addr", "add", "fe80::bad/64", "dev", "thc0", "nodad")
            procs.append(self._py("atk", ["relay", "thc1", "eth0", repr(duration)], log))
        procs.append(self.sim.link.spawn("atk", ["timeout", "-s", "INT", repr(duration)] + cmd, log))
        return procs

    def _figures(self, res, attack_rate, cpu, rss, c0, c1):
        done = [r[2] * 1000 for r in res if r[2] is not None]
        drops = {k: c1[k] - c0.get(k, 0) for k in c1 if k.startswith(("dropped", "rtsolpr.unverified", "keys.refused"))
                 and c1[k] != c0.get(k, 0)}
        return {"attack_rate": round(attack_rate), "exchanges": len(res),
                "success": round(len(done) / len(res), 4) if res else 0.0,
                "p50_ms": _round(_pct(done, 0.5)), "p99_ms": _round(_pct(done, 0.99)),
                "ar_cpu": round(cpu, 3), "ar_rss_mib": round(rss, 1),
                "ar_received": c1.get("received", 0) - c0.get("received", 0), "ar_drops": drops}


def crash_cycles(out, cycles, per=2, seed=5269):
    """Kill -9 the AR daemon `cycles` times at random moments while it issues and persists keys
    for fresh CGAs (`per` requests a cycle), restarting it each time. After each restart, every
    key acknowledged (a PrRtAdv decrypted) in the cycle before, and two older ones, must still
    authenticate an FBU (FBack status 0). Returns the counts."""
    rng = random.Random(seed)
    stats = {"cycles": cycles, "keys_acknowledged": 0, "fbus_checked": 0, "fbus_accepted": 0, "store_refused": 0}
    sim = simmod.Sim(out, mns=1)
    with sim:
        path = sim.dirs["ar"] / "config.json"
        cfg = json.loads(path.read_text())
        cfg.update(keystore_max=4 * per * cycles + 16, keys_per_pubkey=100000)   # nothing evicted or refused
        path.write_text(json.dumps(cfg))
        client = subprocess.Popen(["ip", "netns", "exec", sim.link.ns["mn"], sys.executable, "-m",
                                   "fmipkey_tools.hostile", "keyclient", "eth0", ar_addr(sim).hex()],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
        sim.link.procs.append(client)
        if client.stdout.readline().strip() != "ready":
            raise click.ClickException("the key client did not start")

        def ask(line):
            client.stdin.write(line + "\n")
            client.stdin.flush()

        acked, last = [], []
        for i in range(cycles + 1):
            ar = sim.daemon("ar", export=False)
            for mn, at, key in last + rng.sample(acked, min(2, len(acked))):
                ask("fbu %s %d %s 1.0" % (mn.hex(), at, key.hex()))
                stats["fbus_checked"] += 1
                stats["fbus_accepted"] += client.stdout.readline().strip() == "0"
            if i == cycles:
                simmod.stop(ar)
                break
            ask("ask %d 0.2" % per)
            time.sleep(rng.uniform(0.0, 0.1))     # anywhere from before the first request to after the last save
            ar.kill()
            ar.wait()
            acked += last
            last = []
            for line in iter(client.stdout.readline, "end\n"):
                mn, at, key = line.split()
                last.append((bytes.fromhex(mn), int(at), bytes.fromhex(key)))
            stats["keys_acknowledged"] += len(last)
        stats["store_refused"] = (sim.dirs["ar"] / "daemon.log").read_text().count(" keystore ignored")
    return stats


# (kind, frames kind or thc tool, rates): the floods; rate 0 is as fast as the attacker can
PLAN = (("rtsolpr_forged", (100, 1000, 0)), ("rtsolpr_replay", (100, 1000, 0)),
        ("rtsolpr_unsecured", (100, 1000, 0)), ("cps", (100, 1000, 0)), ("malformed", (1000, 0)),
        ("thc_router26", (0,)), ("thc_solicitate6", (0,)), ("thc_sendpees6", (0,)), ("cga_fresh", (100, 1000)))
MAX_FRAMES = 20000     # frames built per flood; a faster flood sends them round robin


def run(out, plan=PLAN, duration=10.0, progress=None):
    """Idle baseline, then each flood of `plan` for `duration` s, the fresh-CGA ones last (they
    fill the key store) with a new MN asking as the last one ends. Floods at a set rate come
    from a new MAC per frame, the fastest ones from one MAC (one radio sending flat out). Returns {name: figures}
    and "targets": each target beside its figure as {value, target, met}."""
    figs = {}
    with HostileLink(out) as h:
        figs["idle"] = h.flood(0, duration)
        for kind, rates in plan:
            for i, rate in enumerate(rates):
                name = "flood_%s_%s" % (kind, rate or "max")
                if progress:
                    progress(name)
                if kind in THC:
                    figs[name] = h.flood(0, duration, thc=kind)
                    continue
                n = min(int(rate * duration) or MAX_FRAMES, MAX_FRAMES)
                figs[name] = h.flood(rate, duration, frames=h.attacks.build(kind, n, spread=rate > 0),
                                     new_mn=kind == "cga_fresh" and i == len(rates) - 1)
        figs["ar_exit"] = h.ar.poll()    # None: the AR daemon is still running
    figs["targets"] = targets(figs)
    return figs


def targets(figs):
    """The targets of issue 12: at >= 1,000/s (or a tool's own rate) legitimate success
    >= 99 % and p99 <= 10x idle; a new MN keyed within 1 s of a fresh-CGA flood's end."""
    idle = figs["idle"]["p99_ms"] or 0
    out = {}
    for name, f in figs.items():
        if not name.startswith("flood_") or name.endswith("_100"):     # the targets are for >= 1,000/s
            continue
        out[name + ".success"] = _target(f["success"], ">=", 0.99)
        out[name + ".p99_ms"] = _target(f["p99_ms"], "<=", 10 * idle)
        if "new_mn_key_s" in f:
            out[name + ".new_mn_key_s"] = _target(f["new_mn_key_s"], "<=", 1.0)
    out["met"] = all(t["met"] for t in out.values())
    return out


def _target(value, op, bound):
    met = value is not None and (value >= bound if op == ">=" else value <= bound)
    return {"value": value, "target": "%s %s" % (op, round(bound, 2)), "met": met}


def _round(x):
    return None if x is None else round(x, 1)


if __name__ == "__main__":
    cli()
