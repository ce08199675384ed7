"""`fmipkey sim` (and `make demo`): a whole link with real packets. A throwaway
PKI and Sec>=1 CGAs, one AR bundle and one bundle per MN (provision.py), a
network namespace per node joined by a bridge in the AR's namespace, the
firmware daemon under MicroPython in each, a capture of the link to
build/demo/exchange.pcap, then a timeline read back with tshark and PASS/FAIL.

Namespaces need root, or unprivileged user namespaces: then (or with --userns)
the command runs itself again inside new user, network and mount namespaces."""
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from fmipkey import config
from fmipkey.crypto import cga
from fmipkey.errors import ParseError
from fmipkey.wire import mh
from fmipkey_tools import board, build, cgasearch, flash, inspect, pcapfile, pki, provision
from fmipkey_tools.board import MICROPYTHON  # the unix port beside this interpreter
from fmipkey_tools.cga import spki_of

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
CA_PREFIX = "2001:db8::/32"
AR_PREFIX = "2001:db8:1::/64"      # the link the MN starts on (the PAR's)
NAR_PREFIX = "2001:db8:2::/64"     # where the MN moves: its NCoA
NEIGHBOR = {"ap_id": "02:00:00:00:02:00", "nar_lla": "02:00:00:00:02:01",
            "nar_addr": "2001:db8:2::1", "nar_prefix": NAR_PREFIX}
LINK_LOCAL = bytes.fromhex("fe80000000000000")
MESSAGES = {("148", ""): "CPS", ("149", ""): "CPA", ("154", "2"): "RtSolPr", ("154", "3"): "PrRtAdv"}


def find_cgas(wanted, sec):
    """CGA Parameters for each (key, prefix8) at Sec, searched together on every local core by
    cgasearch, as `fmipkey cga gen` does (Sec 1: ~2^16 hashes each, a moment; Sec 2: 2^32, minutes)."""
    jobs = {i: cgasearch.Job(spki_of(key), sec) for i, (key, _) in enumerate(wanted)}
    engine, workers = cgasearch.available_engines()[0], os.cpu_count() or 1
    with cgasearch.local_executor(workers, engine) as ex:
        found = cgasearch.Search(jobs, engine).run(ex, 2 * workers)
    return [cga.encode(found[i], prefix8, 0, jobs[i].spki) for i, (_, prefix8) in enumerate(wanted)]


def find_cga(key, prefix8, sec):
    return find_cgas([(key, prefix8)], sec)[0]


def ncoa_for(params, sec):
    """The MN's new care-of address: its CGA's interface identifier on the NAR's prefix."""
    return config.parse_prefix(NAR_PREFIX) + cga.address(params, sec)[8:]


def mn_names(mns):
    return ["mn"] + ["mn%d" % i for i in range(2, mns + 1)]


def make_bundles(out, bits, sec, at, mns, interfaces):
    """PKI (anchor -> router certificate for AR_PREFIX), CGAs, and provisioned bundles
    out/ar and out/mn, out/mn2, ...; interfaces: {bundle name: interface}."""
    ca_key = pki.new_key(bits)
    ca = pki.build_cert("fmipkey demo trust anchor", ca_key.public_key(), None, ca_key,
                        [ipaddress.IPv6Network(CA_PREFIX)], pki.validity_end(1, None), ca=True)
    ar_key = pki.new_key(bits)
    ar_cert = pki.build_cert("fmipkey demo AR", ar_key.public_key(), ca, ca_key,
                             [ipaddress.IPv6Network(AR_PREFIX)], pki.validity_end(None, ca), ca=False)
    mn_keys = {name: pki.new_key(bits) for name in mn_names(mns)}
    # rfc5568 6.1.2: a PrRtAdv comes from the AR's link-local address
    ar_params, *mn_params = find_cgas([(ar_key, LINK_LOCAL)] + [(k, config.parse_prefix(AR_PREFIX))
                                                                for k in mn_keys.values()], sec)
    provision.write_bundle(out / "ar", "ar", ar_key, ar_params, sec,
                           {"interface": interfaces["ar"], "prefix": AR_PREFIX, "at": at, "counters_interval": 1,
                            "neighbors": [NEIGHBOR]}, chain=[ar_cert], anchors=[ca])
    for (name, key), params in zip(mn_keys.items(), mn_params):
        provision.write_bundle(out / name, "mn", key, params, sec,
                               {"interface": interfaces[name], "prefix": AR_PREFIX, "at": at, "counters_interval": 1},
                               anchors=[ca], hkepk_count=1)


def sh(*cmd):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if r.returncode:
        raise click.ClickException("%s failed: %s" % (" ".join(map(str, cmd)), r.stderr.strip()))
    return r.stdout


class Link:
    """Namespaces <tag>-ar (bridge br0) and <tag>-mn..., each MN's eth0 a veth into
    the bridge. IPv6 is off in the kernels: only the daemons speak (AF_PACKET), so
    the capture holds nothing but the exchange. Removed on exit, whatever happened."""

    def __init__(self, names):
        self.tag = "fmk%s" % os.urandom(3).hex()
        self.ns = {n: "%s-%s" % (self.tag, n) for n in names}
        self.interfaces = {n: "br0" if n == "ar" else "eth0" for n in names}
        self.procs = []

    def __enter__(self):
        try:
            for ns in self.ns.values():
                sh("ip", "netns", "add", ns)
                self.exec_(ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1",
                           "net.ipv6.conf.default.disable_ipv6=1")
            ar = self.ns["ar"]
            sh("ip", "-n", ar, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
            # with br_netfilter loaded the bridge would drop malformed IPv6 before the AR sees it;
            # unchecked: without br_netfilter the key does not exist, and in a user namespace
            # (not root) it may be absent or not writable, and then there is nothing to turn off
            subprocess.run(["ip", "netns", "exec", ar, "sysctl", "-q", "-w", "net.bridge.bridge-nf-call-ip6tables=0"],
                           capture_output=True)
            for i, n in enumerate(n for n in self.ns if n != "ar"):
                sh("ip", "-n", ar, "link", "add", "p%d" % i, "type", "veth", "peer", "name", "eth0", "netns", self.ns[n])
                sh("ip", "-n", ar, "link", "set", "p%d" % i, "master", "br0", "up")
                sh("ip", "-n", self.ns[n], "link", "set", "eth0", "up")
            sh("ip", "-n", ar, "link", "set", "br0", "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def exec_(self, ns, *cmd):
        return sh("ip", "netns", "exec", ns, *cmd)

    def spawn(self, node, cmd, log, pypath=FIRMWARE, stdin=None):
        """`cmd` in the namespace of `node`; MicroPython imports fmipkey from `pypath` (and only there)."""
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[node]] + [str(c) for c in cmd], stdin=stdin,
                             stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, MICROPYPATH=str(pypath)),
                             start_new_session=True)  # a terminal's Ctrl-C is ours to pass on
        self.procs.append(p)
        return p

    def __exit__(self, *exc):
        for p in self.procs:
            stop(p)
        for ns in self.ns.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def is_fback(ip):
    try:
        return mh.parse_packet(ip)[2].type == mh.FBACK
    except ParseError:  # the capture holds ND messages too
        return False


def stop(p, sig=signal.SIGINT, timeout=5):
    """Ask a process to end (SIGINT: the daemon writes its counters), kill it if it does not."""
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


def wait_for(pred, timeout, what):
    end = time.time() + timeout
    while not pred():
        if time.time() > end:
            raise click.ClickException("timed out after %d s waiting for %s" % (timeout, what))
        time.sleep(0.02)


MARKER = ".fmipkey-sim"  # in every --out the sim wrote: only such a directory is emptied


def clear_out(out):
    """Make `out` an empty directory carrying the marker. An existing one is cleared only
    when empty or marked: as root, `--out .` must not wipe a checkout."""
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise click.UsageError("--out %s is a directory that fmipkey sim did not write (it has no %s), so "
                                   "it is left alone: give a new or empty directory (if an older fmipkey sim "
                                   "wrote it, delete it yourself)" % (out, MARKER))
        shutil.rmtree(out)
    elif out.exists() and not out.is_dir():
        raise click.UsageError("--out %s is a file; give a new or empty directory" % out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by fmipkey sim; the next run empties this directory\n")


class Sim:
    """One simulated link; the steps are separate so tests can restart the AR mid-run."""

    def __init__(self, out, bits=1024, sec=1, at=0, mns=1):
        self.out, self.bits, self.sec, self.at, self.mns = Path(out), bits, sec, at, mns
        self.names = ["ar"] + mn_names(mns)
        self.link = None
        self.logs = {}
        # where each daemon runs from: its bundle, and fmipkey from the sources (see run_from_flash)
        self.dirs = {n: self.out / n for n in self.names}
        self.pypath = {n: FIRMWARE for n in self.names}

    def check_host(self):
        if os.geteuid() != 0:
            raise click.ClickException(NEEDS_ROOT)
        for tool in ("ip", "tshark"):
            if shutil.which(tool) is None:
                raise click.ClickException("%s is not installed: apt-get install iproute2 tshark (make tools does it)" % tool)
        if not MICROPYTHON.exists():
            raise click.ClickException("no MicroPython at %s: run make (it sets up .venv)" % MICROPYTHON)

    def __enter__(self):
        self.check_host()
        clear_out(self.out)
        self.link = Link(self.names).__enter__()
        try:
            make_bundles(self.out, self.bits, self.sec, self.at, self.mns, self.link.interfaces)
        except BaseException:
            self.link.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        self.link.__exit__()
        for f in self.logs.values():
            f.close()

    def capture(self):
        """tshark on the AR's bridge, writing every frame to exchange.pcap; returns once it captures."""
        err = self.out / "tshark.log"
        self.logs["tshark"] = f = open(err, "w")
        p = self.link.spawn("ar", ["tshark", "-q", "-n", "-i", "br0", "-F", "pcap", "-w", self.out / "exchange.pcap"], f)
        wait_for(lambda: "Capturing on" in err.read_text() or p.poll() is not None, 15, "tshark to start")
        if p.poll() is not None:
            raise click.ClickException("tshark could not capture: %s" % err.read_text().strip())
        return p

    def run_from_flash(self, name, flash_dir):
        """Run `name`'s daemon as a board would: the bundle and the .mpy firmware that
        `fmipkey flash` wrote to a (virtual) board's flash, and nothing else on its path."""
        self.dirs[name] = self.pypath[name] = Path(flash_dir).resolve()

    def daemon(self, name, *args, export=True):
        """The firmware daemon for bundle `name`, logging to <bundle>/daemon.log; returns once its link is open.
        export: --export-keys (hk.json, for the demo's checks)."""
        log = self.dirs[name] / "daemon.log"
        if name not in self.logs:
            self.logs[name] = open(log, "a")
        before = log.read_text().count(" start ")
        p = self.link.spawn(name, [MICROPYTHON, "-m", "fmipkey.main", self.dirs[name]]
                            + ["--export-keys"] * export + list(args),
                            self.logs[name], self.pypath[name])
        wait_for(lambda: log.read_text().count(" start ") > before or p.poll() is not None, 15, name + " to start")
        return p

    def await_fbacks(self, n, timeout=5):
        """Wait until the capture file holds n FBacks: an MN has its FBack before tshark
        has written it, and stopping tshark drops what it has not. The report names
        anything still missing after the timeout."""
        end = time.time() + timeout
        while time.time() < end:
            try:
                frames = pcapfile.read(self.out / "exchange.pcap")[0]
            except pcapfile.PcapError:  # not even the header written yet
                frames = []
            if sum(1 for _, ip, _ in frames if ip and is_fback(ip)) >= n:
                return
            time.sleep(0.05)

    def mn_args(self, name):
        params = (self.dirs[name] / "cga.der").read_bytes()
        return ["--ncoa", config.format_addr(ncoa_for(params, self.sec)), "--timeout", "20"]

    def run(self):
        """The whole exchange; returns {mn name: exit status}."""
        tshark = self.capture()
        ar = self.daemon("ar")
        mns = {n: self.daemon(n, *self.mn_args(n)) for n in self.names[1:]}
        status = {n: p.wait(30) for n, p in mns.items()}
        self.await_fbacks(sum(rc == 0 for rc in status.values()))
        stop(ar)
        stop(tshark)
        return status


# ---- reading the result back ------------------------------------------------

FIELDS = ("frame.time_relative", "frame.len", "ipv6.src", "ipv6.dst", "icmpv6.type", "icmpv6.fmip6.subtype",
          "mip6.mhtype", "mip6.fback.status", "icmpv6.checksum.status", "icmpv6.opt.type", "icmpv6.opt.hkr.at",
          "icmpv6.opt.hkr.lifetime", "mip6.badff.spi", "_ws.expert.message")


def packets(pcap):
    """One dict per frame of the capture, fields as tshark dissects them."""
    out = subprocess.run(["tshark", "-r", str(pcap), "-n", "-o", "ip.check_checksum:TRUE", "-T", "fields",
                          "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
                         + [a for f in FIELDS for a in ("-e", f)], capture_output=True, text=True, check=True).stdout
    return [dict(zip(FIELDS, line.split("\t"))) for line in out.splitlines()]


def message_name(p):
    if p["mip6.mhtype"]:
        return {"8": "FBU", "9": "FBack"}.get(p["mip6.mhtype"], "MH %s" % p["mip6.mhtype"])
    return MESSAGES.get((p["icmpv6.type"], p["icmpv6.fmip6.subtype"]), "ICMPv6 %s" % p["icmpv6.type"])


def describe(p, rec):
    """inspect's checks of the message (CGA, signature, timestamp/nonce, BADF, path...), then
    what tshark reads of the handover key and the FBack."""
    notes = ["%s %s" % (n, c["result"]) for n, c in rec["checks"].items()] if rec else []
    if p["icmpv6.opt.hkr.at"]:
        notes.append("AT " + p["icmpv6.opt.hkr.at"])
    if p["icmpv6.opt.hkr.lifetime"]:
        notes.append("key lifetime %s s" % p["icmpv6.opt.hkr.lifetime"])
    if p["mip6.badff.spi"]:
        notes.append("BADF SPI " + p["mip6.badff.spi"])
    if p["mip6.fback.status"]:
        notes.append("status " + p["mip6.fback.status"])
    return ", ".join(notes)


def flash_virtual(bundle, flash_dir, fw=ROOT / "build" / "fw"):
    """What `fmipkey flash --bundle BUNDLE` does, onto a virtual board whose flash is
    `flash_dir` (the board is gone on return); returns flash.flash's report."""
    if flash.needs_build(fw):
        build.build(fw)
    with board.virtual_board(flash_dir) as tty:
        return flash.flash(tty, flash.local_files(fw, bundle), cfg=flash.check_bundle(bundle))


def hk(bundle):
    path = Path(bundle) / "hk.json"
    return json.loads(path.read_text()) if path.exists() else []


def checked(sim):
    """inspect's records of the capture, by frame number: checked with the MNs' keys (HK
    Replies, BADFs) and their trust anchor (the AR's certification path)."""
    privs = [k for n in sim.names[1:] for k in inspect.load_private_keys(sim.dirs[n])]
    trust = inspect.load_anchor(sim.dirs[sim.names[1]] / "anchors.pem")
    records, _, warning = inspect.inspect_capture(sim.out / "exchange.pcap", privs, trust)
    if warning:
        click.echo("warning: " + warning)
    return {r["index"]: r for r in records}


def report(sim, status):
    """Print the timeline and the verdict; returns True on PASS."""
    records = checked(sim)
    click.echo("\n%-7s %-8s %5s  %-32s %-32s %s" % ("time s", "message", "bytes", "from", "to", "checks"))
    seen = set()
    for i, p in enumerate(packets(sim.out / "exchange.pcap"), 1):
        name = message_name(p)
        seen.add(name)
        click.echo("%-7.3f %-8s %5s  %-32s %-32s %s" % (float(p["frame.time_relative"]), name, p["frame.len"],
                                                        p["ipv6.src"], p["ipv6.dst"], describe(p, records.get(i))))
    failed = [r for r in records.values() if r["verdict"] == "failed"]  # any message: the demo's own
    for r in failed:
        click.echo("#%d %s: %s" % (r["index"], r["message"], "; ".join(
            "%s failed%s" % (n, ": " + c["detail"] if c["detail"] else "")
            for n, c in r["checks"].items() if c["result"] == "failed")))
    click.echo("")
    for name in sim.names:
        click.echo("-- %s daemon log (%s)" % (name, sim.dirs[name] / "daemon.log"))
        click.echo((sim.dirs[name] / "daemon.log").read_text().rstrip())
    ar_keys = {k["cga"]: k for k in hk(sim.dirs["ar"])}
    ok = True
    click.echo("")
    for name, rc in status.items():
        mine = hk(sim.dirs[name])
        theirs = ar_keys.get(mine[0]["cga"]) if mine else None
        same = bool(theirs) and theirs["key"] == mine[0]["key"] and theirs["at"] == mine[0]["at"]
        click.echo("%s: exit %s, handover key %s" % (name, rc, "identical on both sides (%s, AT %d)"
                                                     % (mine[0]["key"], mine[0]["at"]) if same else "MISSING or different"))
        ok = ok and rc == 0 and same
    missing = [m for m in ("CPS", "CPA", "RtSolPr", "PrRtAdv", "FBU", "FBack") if m not in seen]
    if missing:
        click.echo("not on the wire: " + ", ".join(missing))
    ok = ok and not missing and not failed
    click.echo("capture: %s\n%s" % (sim.out / "exchange.pcap", "PASS" if ok else "FAIL"))
    return ok


NEEDS_ROOT = ("the simulation creates network namespaces (ip netns): run it as root (sudo .venv/bin/fmipkey sim), "
              "or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 and "
              "user.max_user_namespaces > 0) and have util-linux's unshare")


IN_USERNS = "FMIPKEY_SIM_USERNS"  # set once re-run inside the namespaces: do not nest again


def rerun_in_user_namespace():
    """Not root: run this same command again as root of new user, network and mount
    namespaces. A private tmpfs on /run lets `ip netns` make /run/netns; every namespace
    the simulation creates then belongs to this user, and so do the files it writes."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-Ur", "true"], capture_output=True).returncode:
        raise click.ClickException(NEEDS_ROOT)
    cmd = [sys.executable, "-m", "fmipkey_tools.cli"] + sys.argv[1:]
    os.environ[IN_USERNS] = "1"
    os.execvp("unshare", ["unshare", "--user", "--map-root-user", "--net", "--mount", "--propagation", "private",
                          "sh", "-c", 'mount -t tmpfs fmipkey-run /run && exec "$@"', "sh"] + cmd)


@click.command()
@click.option("--out", default="build/demo", show_default=True, type=click.Path(file_okay=False),
              help="Where bundles, logs and exchange.pcap go: a new or empty directory, or one an earlier "
              "run wrote (emptied first).")
@click.option("--bits", type=click.Choice(["1024", "2048"]), default="1024", show_default=True, help="RSA key size.")
@click.option("--sec", type=click.IntRange(0, 2), default=1, show_default=True,
              help="CGA Sec, searched on every host core (Sec 2: 2^32 hashes per node, minutes).")
@click.option("--at", type=click.IntRange(0, 1), default=0, show_default=True, help="Algorithm type the MNs ask for.")
@click.option("--mns", type=click.IntRange(1, 16), default=1, show_default=True, help="Number of mobile nodes.")
@click.option("--flashed", is_flag=True, help="Run the AR as a board does: `fmipkey flash` its bundle and the "
              "built .mpy firmware onto a virtual board (OUT/ar-flash), then run the daemon from that flash only.")
@click.option("--userns", is_flag=True, help="Run inside a new user namespace even as root (automatic for other "
              "users): the host's /run/netns is left alone.")
def cli(out, bits, sec, at, mns, flashed, userns):
    """Simulate a link: AR and MN under MicroPython in network namespaces."""
    if (userns or os.geteuid() != 0) and not os.environ.get(IN_USERNS):
        rerun_in_user_namespace()
    prev = signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        with Sim(out, int(bits), sec, at, mns) as sim:
            click.echo("network namespaces: " + " ".join(sim.link.ns.values()))
            if flashed:
                result = flash_virtual(sim.out / "ar", sim.out / "ar-flash")
                click.echo("flashed %d files onto a virtual board; the AR runs from %s" % (len(result), sim.out / "ar-flash"))
                sim.run_from_flash("ar", sim.out / "ar-flash")
            status = sim.run()
            ok = report(sim, status)
    finally:
        signal.signal(signal.SIGTERM, prev)
    sys.exit(0 if ok else 1)
