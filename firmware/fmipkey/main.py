# The daemon: the one loop around a sans-IO engine (docs/engines.md). It owns
# the clock (clock.py), the link and the files; the engines only see (packet, now).
#
#   micropython -m fmipkey.main BUNDLE_DIR [--console] [--log-time iso|unix] [--export-keys]
#       [--ncoa ADDR] [--timeout S] [--pause-before-fbu FILE]      (MN only)
#   micropython -m fmipkey.main --uci /etc/config/fmipkey [--check]  (OpenWrt)
#
# Files are named in config.json relative to the bundle directory. With --uci the
# bundle and the settings that override its config.json come from UCI (uci.py);
# --check loads everything a start would, opens no socket, and exits 0 or 2. An AR runs
# until interrupted; an MN runs CPS/CPA, RtSolPr/PrRtAdv, then the FBU, and
# exits 0 when its FBack accepts it, 1 when it fails or times out. --help lists the options.
import json
import os
import select
import sys
import time

from fmipkey.compat import const, create_private, exists, on_fat
from fmipkey import config, events, identity, nvs
from fmipkey.clock import Clock
from fmipkey.crypto import backend
from fmipkey.errors import ConfigError, ParseError, VerifyError

TICK = const(50)  # ms: engine timers (RtSolPr retransmission starts at 100 ms)
RUNNING = "daemon.json"  # in the bundle while the daemon runs: {"started": Unix s}
BATCH = 32   # frames handled per loop turn
AR_TYPES = (148, (154, 2))   # ICMPv6 the AR reads: CPS, RtSolPr (FMIPv6 subtype 2); FBUs are Mobility Headers
MN_TYPES = (149, (154, 3))   # and the MN: CPA, PrRtAdv (subtype 3)
MN_MH = (9,)                 # and of Mobility Headers only FBacks (MH Type 9)
USAGE = ("usage: fmipkey.main BUNDLE_DIR|--uci FILE [--check] [--console] [--log-time iso|unix] [--export-keys] "
         "[--ncoa ADDR] [--timeout S] [--pause-before-fbu FILE]")
HELP = USAGE + """
  --check            load the bundle and exit (0: it would run)
  --console          answer `fmipkey console` on stdin (a board's serial) while running;
                     Ctrl-C there stops the daemon
  --log-time unix    log Unix seconds instead of ISO 8601 UTC (2026-12-04T17:05:09.166Z)
  --export-keys      FOR TESTS AND THE DEMO ONLY: write every handover key in plaintext
                     to hk.json (mode 0600 where the file system has modes)
  MN: --ncoa ADDR, --timeout S, --pause-before-fbu FILE (boards/unix/README.md)
"""


def _args(argv):
    opts = {"bundle": None, "export": False, "ncoa": None, "timeout": 30.0, "pause": None, "uci": None,
            "check": False, "cfg": None, "console": False, "unix_time": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--export-keys":
            opts["export"] = True
        elif a == "--check":
            opts["check"] = True
        elif a == "--console":
            opts["console"] = True
        elif a == "--log-time" and i + 1 < len(argv) and argv[i + 1] in ("iso", "unix"):
            i += 1
            opts["unix_time"] = argv[i] == "unix"
        elif a == "--uci" and i + 1 < len(argv):
            i += 1
            opts["uci"] = argv[i]
        elif a in ("--ncoa", "--timeout", "--pause-before-fbu") and i + 1 < len(argv):
            i += 1
            if a == "--ncoa":
                opts["ncoa"] = config.parse_addr(argv[i])
            elif a == "--timeout":
                opts["timeout"] = float(argv[i])
            else:
                opts["pause"] = argv[i]
        elif a[:1] != "-" and opts["bundle"] is None:
            opts["bundle"] = a
        else:
            raise ValueError("unexpected argument %s" % a)
        i += 1
    if opts["bundle"] is None and opts["uci"] is None:
        raise ValueError("no bundle directory (or --uci FILE)")
    if opts["bundle"] is not None and opts["uci"] is not None:
        raise ValueError("a bundle directory and --uci: give one (UCI names the bundle)")
    return opts


def _write_json(path, obj, private=False):
    # atomic: a reader (console, sim) never sees half a file
    if private:
        create_private(path + ".tmp")
    with open(path + ".tmp", "w") as f:
        f.write(json.dumps(obj))
    os.rename(path + ".tmp", path)


class Bundle:
    """A bundle directory: its validated config (from config.json, or given: the UCI's), the
    engines' settings, and its files (names relative to the directory; absolute ones let
    device.key live apart, boards/unix/README.md)."""

    def __init__(self, directory, cfg=None):
        self.dir = directory.rstrip("/") or "/"
        self.cfg = cfg or config.load(self.dir + "/config.json")
        self.settings = config.Settings(self.cfg)
        self.role = self.cfg["role"]

    def path(self, name):
        return name if name[:1] == "/" else self.dir + "/" + name

    def read(self, name):
        try:
            with open(self.path(name), "rb") as f:
                return f.read()
        except OSError:
            raise ConfigError("%s: missing; provision the bundle again (fmipkey provision)" % self.path(name))


class Store:
    """What the daemon keeps on flash for an engine: the AR's sealed key store (saved before
    the packets announcing a change leave) and, with --export-keys, hk.json."""

    def __init__(self, daemon, bundle, keystore, export):
        self.d = daemon
        self.bundle = bundle
        self.ks = keystore            # None on an MN
        self.export_keys = export

    def load(self, now):
        # A restarted AR keeps the keys it issued (rfc5269 3.6): they are sealed on disk. now: Unix s
        name = self.bundle.cfg["keystore_file"]
        if not exists(self.bundle.path(name)):
            return
        try:
            self.ks.load(self.bundle.path(name), now)
            self.d.log("keystore", "loaded %d keys from %s" % (len(self.ks), name))
        except (ParseError, VerifyError) as e:
            # a damaged store is not fatal: start empty, MNs ask again
            self.d.counters["errors.keystore"] = self.d.counters.get("errors.keystore", 0) + 1
            self.d.log("keystore", "ignored: %s" % e.args[0])

    def save(self, addr):
        """Save the key store if it changed. False when it changed and could not be saved
        (it stays dirty: the next call retries)."""
        if self.ks is None or not self.ks.dirty:
            return True
        try:
            self.ks.save(self.bundle.path(self.bundle.cfg["keystore_file"]))
        except Exception as e:  # OSError (flash full, read-only), MemoryError
            self.d.fail("errors.save", e)
            return False
        self.d.cleared("errors.save")
        if self.export_keys:
            now = self.d.clock.unix()
            self.export([(addr, c) + self.ks.get(c, now) for c, _, _ in list(self.ks.entries(now))])
        return True

    def export(self, keys):
        """hk.json: the handover keys this node holds [(ar, cga, key, at, expiry)], for the demo's
        checks; plaintext keys, so 0600 where the file system has modes."""
        if not self.export_keys:
            return
        try:
            _write_json(self.bundle.path("hk.json"), [
                {"ar": config.format_addr(ar), "cga": config.format_addr(cga), "at": at,
                 "key": "".join("%02x" % b for b in key), "expiry": int(expiry)}
                for ar, cga, key, at, expiry in keys], True)
        except Exception as e:  # OSError, MemoryError (a full store's JSON): the demo's file, never fatal
            self.d.fail("errors.export", e)
            return
        self.d.cleared("errors.export")


def _load_ar(d, bundle, ident):
    from fmipkey.ar import AccessRouter
    from fmipkey.keystore import KeyStore
    cfg = bundle.cfg
    if on_fat(bundle.path(cfg["keystore_file"])):
        raise ConfigError("keystore_file %s is on a FAT file system, where replacing a file is not atomic (a power"
                          " loss could lose every key): format the board's vfs partition littlefs"
                          " (boards/esp32/partitions-fmipkey.csv)" % cfg["keystore_file"])
    certs = [c.der for c in identity.certificates(bundle.dir, cfg["certs_file"])]
    in_nvs = nvs.name(cfg["device_key_file"])  # ESP32: provision --nvs
    device_key = nvs.read(in_nvs) if in_nvs else bundle.read(cfg["device_key_file"])
    ks = KeyStore(device_key, cfg["keystore_max"], cfg["hk_lifetime"])
    # Warn, not refuse: a flash over the REPL cannot set file modes (MicroPython has no
    # chmod) and littlefs has none; provisioning writes it 0600 (docs/firmware-api.md).
    if not in_nvs and os.stat(bundle.path(cfg["device_key_file"]))[0] & 0o077:
        d.log("warning", "%s is readable by group/other: chmod 600 it" % cfg["device_key_file"])
    return ks, lambda link: AccessRouter(bundle.settings, ident, certs, ks, link.mac)


def _load_mn(d, bundle, ident):
    from fmipkey.mn import MobileNode
    anchors = identity.certificates(bundle.dir, bundle.cfg["anchors_file"])
    pool = identity.private_keys(bundle.dir, bundle.cfg["hkepk_file"])
    return None, lambda link: MobileNode(bundle.settings, ident, anchors, pool)


class Daemon:
    def __init__(self, opts, link=None, clock=None):
        """link: the link driver; None opens net.linux.Link on the configured interface.
        clock: a clock.Clock (None: over the port's time module)."""
        self.opts = opts
        self.clock = clock or Clock()
        self.bundle = b = Bundle(opts["bundle"], opts.get("cfg"))
        self.cfg = cfg = b.cfg
        self.role = b.role
        # SEND needs SHA-1, the AR's key store AES: refuse a port without them before any file is touched
        missing = [m for m in backend.missing() if self.role == "ar" or m != "cryptolib.aes"]
        if missing:
            raise ConfigError("this MicroPython has no %s (OpenWrt's micropython-nossl): install "
                              "micropython-mbedtls" % " and no ".join(missing))
        self.counters = {"errors.engine": 0, "errors.send": 0, "errors.save": 0, "errors.link": 0,
                         "errors.memory": 0, "errors.counters": 0, "errors.export": 0, "dropped.unsaved": 0}
        self._errors = {}  # counter -> text of the I/O error last logged for it
        ident = identity.load(b.dir, cfg)
        self.addr = ident.addr
        self.ks, make_engine = (_load_ar if self.role == "ar" else _load_mn)(self, b, ident)
        self.store = Store(self, b, self.ks, opts["export"])
        if self.ks is not None:
            self.store.load(self.clock.unix())
        if link is None:
            from fmipkey.net.linux import Link  # after the file checks: they need no socket
            link = Link(cfg["interface"])
        self.link = link
        if hasattr(link, "guard"):
            # docs/hostile-link.md: the kernel passes on only what the engine reads, and on an
            # AR blocks a MAC that floods
            link.guard(*((AR_TYPES, cfg["flood_pps"]) if self.role == "ar" else (MN_TYPES, 0, MN_MH)))
        self.engine = make_engine(link)
        self.result = None       # MN: the exit status once its exchange ended
        self._fbu_to = None      # MN: the PAR to send the FBU to once the pause file allows
        self.log("start", "%s on %s, CGA %s, modexp %s" % (self.role, cfg["interface"],
                                                           config.format_addr(ident.addr), backend.modexp))

    def log(self, event, text):
        n = self.clock.now()
        stamp = "%d.%03d" % (n.s, n.sub) if self.opts.get("unix_time") else config.format_time(n.s, n.sub)
        sys.stdout.write("%s %s %s %s\n" % (stamp, self.role, event, text))
        sys.stdout.flush()

    def fail(self, name, e):
        """Count an I/O error and keep running; logged once until it changes or clears
        (a full flash or a downed link would otherwise log every loop)."""
        self.counters[name] += 1
        text = "%s %s" % (type(e).__name__, e)
        if self._errors.get(name) != text:
            self._errors[name] = text
            self.log("error", "%s: %s" % (name, text))

    def cleared(self, name):
        if self._errors.pop(name, None) is not None:
            self.log("recovered", name)

    def call(self, what, *args):
        """One engine step (start, tick, fbu), then its packets (see send)."""
        self.send([(p, None) for p in self.step(what, *args)])

    def step(self, what, *args):
        """The engine's packets for one call. An unexpected exception is logged and counted,
        never fatal: the next packet gets a fresh try."""
        try:
            return getattr(self.engine, what)(*args) or ()
        except Exception as e:
            self.counters["errors.engine"] += 1
            self.log("error", "%s: %s %s" % (what, type(e).__name__, e))
            return ()

    def handle_batch(self):
        """Up to BATCH frames from the link through the engine, then one save and their
        answers: at any packet rate the loop comes back to its timers, saves and counters."""
        out = []
        for _ in range(BATCH):
            try:
                r = self.link.recv()
            except MemoryError:   # a board's heap had no block for this frame: count it, try again next turn
                self.counters["errors.memory"] += 1
                break
            if r is None:
                break
            pkt, mac = r
            src = pkt[8:24]
            # an answer goes to the MAC of the frame it answers (the link learns no table)
            for a in self.step("handle", pkt, self.clock.now(), *((mac,) if self.role == "ar" else ())):
                out.append((a, mac if a[24:40] == src else None))
        self.send(out)

    def send(self, out):
        """Save the key store if the engine changed it, then send (packet, MAC or None) pairs.
        A key or FBU sequence number goes to flash before the packet announcing it: a crash in
        between must not leave an MN holding a key the AR has lost."""
        if not self.drain():
            self.counters["dropped.unsaved"] += len(out)   # the MN retransmits; the save is retried
            return
        for pkt, mac in out:
            try:
                self.link.send(pkt, mac)
            except OSError as e:
                self.counters["errors.send"] += 1
                self.log("error", "send: %s" % e)

    def drain(self):
        """Log the engine's events and react to them; save the key store if it changed
        (False when that failed)."""
        events = self.engine.events
        for ev in events:
            self.log(ev.name, ev.describe(config.format_addr))
            self.react(ev)
        del events[:]
        return self.store.save(self.addr)

    def react(self, ev):
        # The MN's script: export the first key, then the FBU to its router (once the
        # pause file, if any, exists); exit 0 when the PAR accepts it, 1 when anything fails.
        if self.role != "mn":
            return
        if isinstance(ev, events.KeyReceived):
            if self._fbu_to is None:          # the first key only: None, the PAR, then False once sent
                self.store.export([(ev.router, ev.mn, ev.key, ev.at, ev.expiry)])
                self._fbu_to = ev.router
        elif isinstance(ev, events.FbuAccepted):
            self.result = 0
        elif isinstance(ev, (events.Failed, events.FbuRefused)):
            self.result = 1

    def write_counters(self):
        c = {}
        for src in (self.engine.counters, self.link.counters, self.counters):
            for k in src:
                c[k] = c.get(k, 0) + src[k]
        try:
            _write_json(self.bundle.path(self.cfg["counters_file"]), c)
            self.cleared("errors.counters")
        except OSError as e:
            self.fail("errors.counters", e)

    def _send_fbu(self):
        pause = self.opts["pause"]
        if not self._fbu_to or pause is not None and not exists(pause):
            return
        par, self._fbu_to = self._fbu_to, False
        ncoa = self.opts["ncoa"] or self.addr
        self.log("fbu", "to %s, NCoA %s" % (config.format_addr(par), config.format_addr(ncoa)))
        self.call("fbu", par, ncoa, self.clock.now())

    def serve_console(self, requests):
        """Answer the console requests waiting on stdin, in the bundle directory as at
        the REPL, with counters written just before (console counters reads the file)."""
        from fmipkey import console
        for fn, args in requests.read():
            self.write_counters()
            home = os.getcwd()
            os.chdir(self.bundle.dir)
            try:
                line = console.answer(fn, args, "running (answered by the daemon)")
            finally:
                os.chdir(home)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            if fn == "reboot":
                self.log("stop", "reboot from the console")
                console._reset()

    def run(self):
        """Returns the exit status: AR 0 when interrupted; MN 0 on FBack accepted."""
        poll = select.poll()
        poll.register(self.link.fileno(), select.POLLIN)
        clock = self.clock
        start = clock.now()
        last_counters = last_tick = start.ms
        running = self.bundle.path(RUNNING)
        _write_json(running, {"started": start.s})  # console status: a daemon runs here
        mn = self.role == "mn"
        requests = None
        if self.opts.get("console"):
            from fmipkey.console import Requests
            requests = Requests(sys.stdin)
        if mn:
            self.call("start", start)
        try:
            while True:
                ready = poll.poll(TICK)
                if ready:
                    try:
                        self.handle_batch()
                        self.cleared("errors.link")
                    except OSError as e:  # ENETDOWN and the like: the interface may come back
                        self.fail("errors.link", e)
                        time.sleep(TICK / 1000)  # an erroring socket polls ready at once: do not spin
                now = clock.now()
                if now.ms - last_tick >= TICK:
                    last_tick = now.ms
                    self.call("tick", now)
                if now.ms - last_counters >= self.cfg["counters_interval"] * 1000:
                    last_counters = now.ms
                    self.write_counters()
                if requests is not None:
                    self.serve_console(requests)
                if not mn:
                    continue
                self._send_fbu()
                if self.result is not None:
                    return self.result
                if now.ms - start.ms > self.opts["timeout"] * 1000:
                    self.log("timeout", "state %s after %.1f s" % (self.engine.state, (now.ms - start.ms) / 1000))
                    return 1
        except KeyboardInterrupt:
            self.log("stop", "interrupted")
            return 0 if not mn else 1
        finally:
            self.write_counters()
            self.link.close()
            try:
                os.remove(running)
            except OSError:
                pass


def main(argv):
    if "-h" in argv or "--help" in argv:
        sys.stdout.write(HELP)
        return 0
    try:
        opts = _args(argv)
    except ValueError as e:
        sys.stderr.write("%s\n%s\n" % (e.args[0], USAGE))
        return 2
    try:
        if opts["uci"]:
            from fmipkey import uci  # OpenWrt only: a board's daemon never loads it
            opts["bundle"], opts["cfg"] = uci.load(opts["uci"])
        d = Daemon(opts, _Unopened() if opts["check"] else None)
    except ConfigError as e:
        sys.stderr.write("fmipkey: %s\n" % e.args[0])
        return 2
    return 0 if opts["check"] else d.run()


class _Unopened:
    """The link --check does not open: the interface may not be up yet at boot."""
    mac = bytes(6)
    counters = {}


if __name__ == "__main__":
    try:
        import signal  # CPython; the unix port has none (SIGTERM ends it, counters are periodic)

        def _term(signum, frame):
            raise KeyboardInterrupt
        signal.signal(signal.SIGTERM, _term)
    except ImportError:
        pass
    sys.exit(main(sys.argv[1:]))
