# The daemon: the one loop around a sans-IO engine (docs/engines.md). It owns
# the clock, the link and the files; the engines only see (packet, now).
#
#   micropython -m fmipkey.main BUNDLE_DIR [--export-keys]
#       [--ncoa ADDR] [--timeout S] [--pause-before-fbu FILE]      (MN only)
#
# Files are named in config.json relative to the bundle directory. An AR runs
# until interrupted; an MN runs CPS/CPA, RtSolPr/PrRtAdv, then the FBU, and
# exits 0 when its FBack accepts it, 1 when it fails or times out.
import json
import os
import select
import sys
import time

from fmipkey import config, identity, keystore
from fmipkey.errors import ConfigError, ParseError, VerifyError

TICK = 0.05  # s: engine timers (RtSolPr retransmission starts at 100 ms)
USAGE = ("usage: fmipkey.main BUNDLE_DIR [--export-keys] [--ncoa ADDR] [--timeout S] "
         "[--pause-before-fbu FILE]")


def _args(argv):
    opts = {"bundle": None, "export": False, "ncoa": None, "timeout": 30.0, "pause": None}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--export-keys":
            opts["export"] = True
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
    if opts["bundle"] is None:
        raise ValueError("no bundle directory")
    return opts


def _write_json(path, obj):
    # atomic: a reader (console, sim) never sees half a file
    with open(path + ".tmp", "w") as f:
        f.write(json.dumps(obj))
    os.rename(path + ".tmp", path)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class Daemon:
    def __init__(self, opts):
        self.opts = opts
        self.bundle = b = opts["bundle"].rstrip("/") or "/"
        self.cfg = cfg = config.load(b + "/config.json")
        self.role = cfg["role"]
        self.counters = {"errors.engine": 0, "errors.send": 0}
        ident = identity.load(b, cfg)
        self.ks = None
        if self.role == "ar":
            from fmipkey.ar import AccessRouter
            certs = [c.der for c in identity.certificates(b, cfg["certs_file"])]
            self.ks = keystore.KeyStore(self._read(cfg["device_key_file"]), cfg["keystore_max"], cfg["hk_lifetime"])
            self._load_keys()
        else:
            from fmipkey.mn import MobileNode
            anchors = identity.certificates(b, cfg["anchors_file"])
            pool = identity.private_keys(b, cfg["hkepk_file"])
        self.addr = ident.addr
        from fmipkey.net.linux import Link  # after the file checks: they need no socket
        self.link = Link(cfg["interface"])
        if self.role == "ar":
            self.engine = AccessRouter(cfg, ident, certs, self.ks, self.link.mac)
        else:
            self.engine = MobileNode(cfg, ident, anchors, pool)
        self.log("start", "%s on %s, CGA %s" % (self.role, cfg["interface"], config.format_addr(ident.addr)))

    def path(self, name):
        return self.bundle + "/" + name

    def _read(self, name):
        try:
            with open(self.path(name), "rb") as f:
                return f.read()
        except OSError:
            raise ConfigError("%s: missing; provision the bundle again (fmipkey provision)" % self.path(name))

    def _load_keys(self):
        # A restarted AR keeps the keys it issued (rfc5269 3.6): they are sealed on disk.
        path = self.path(self.cfg["keystore_file"])
        if not _exists(path):
            return
        try:
            self.ks.load(path, time.time())
            self.log("keystore", "loaded %d keys from %s" % (len(self.ks), self.cfg["keystore_file"]))
        except (ParseError, VerifyError) as e:
            # a damaged store is not fatal: start empty, MNs ask again
            self.counters["errors.keystore"] = self.counters.get("errors.keystore", 0) + 1
            self.log("keystore", "ignored: %s" % e.args[0])

    def log(self, event, text):
        sys.stdout.write("%.3f %s %s %s\n" % (time.time(), self.role, event, text))
        sys.stdout.flush()

    def call(self, what, *args):
        """One engine step; sends its packets and logs its events. An unexpected
        exception is logged and counted, never fatal: the next packet gets a fresh try."""
        try:
            out = getattr(self.engine, what)(*args)
        except Exception as e:
            self.counters["errors.engine"] += 1
            self.log("error", "%s: %s %s" % (what, type(e).__name__, e))
            out = []
        for pkt in out or ():
            try:
                self.link.send(pkt)
            except OSError as e:
                self.counters["errors.send"] += 1
                self.log("error", "send: %s" % e)
        self.drain()

    def drain(self):
        events = self.engine.events
        for name, text in events:
            self.log(name, text)
        del events[:]
        if self.ks is not None and self.ks.dirty:
            self.ks.save(self.path(self.cfg["keystore_file"]))
            if self.opts["export"]:
                now = time.time()
                self.export([(self.addr, c) + self.ks.get(c, now) for c, _, _ in list(self.ks.entries(now))])

    def export(self, keys):
        """hk.json: the handover keys this node holds, for the demo and its checks."""
        _write_json(self.path("hk.json"), [
            {"ar": config.format_addr(ar), "cga": config.format_addr(cga), "at": at,
             "key": "".join("%02x" % b for b in key), "expiry": int(expiry)}
            for ar, cga, key, at, expiry in keys])

    def write_counters(self):
        c = {}
        for src in (self.engine.counters, self.link.counters, self.counters):
            for k in src:
                c[k] = c.get(k, 0) + src[k]
        _write_json(self.path(self.cfg["counters_file"]), c)

    def run(self):
        """Returns the exit status: AR 0 when interrupted; MN 0 on FBack accepted."""
        poll = select.poll()
        poll.register(self.link.fileno(), select.POLLIN)
        start = last_counters = last_tick = time.time()
        mn = self.role == "mn"
        fbu_sent = exported = False
        if mn:
            self.call("start", start)
        try:
            while True:
                ready = poll.poll(int(TICK * 1000))
                if ready:
                    while True:
                        r = self.link.recv()
                        if r is None:
                            break
                        self.call("handle", r[0], time.time())
                now = time.time()
                if now - last_tick >= TICK:
                    last_tick = now
                    self.call("tick", now)
                if now - last_counters >= self.cfg["counters_interval"]:
                    last_counters = now
                    self.write_counters()
                if not mn:
                    continue
                state = self.engine.state
                if state == "keyed" and not fbu_sent:
                    keys = [(ar, cga) + self.engine.keys[(ar, cga)] for ar, cga in self.engine.keys]
                    if self.opts["export"] and not exported:
                        exported = True
                        self.export(keys)
                    pause = self.opts["pause"]
                    if pause is None or _exists(pause):
                        fbu_sent = True
                        ncoa = self.opts["ncoa"] or self.addr
                        self.log("fbu", "to %s, NCoA %s" % (config.format_addr(keys[0][0]), config.format_addr(ncoa)))
                        self.call("fbu", keys[0][0], ncoa, time.time())
                elif state == "done":
                    return 0
                elif state == "failed":
                    return 1
                if now - start > self.opts["timeout"]:
                    self.log("timeout", "state %s after %.1f s" % (state, now - start))
                    return 1
        except KeyboardInterrupt:
            self.log("stop", "interrupted")
            return 0 if not mn else 1
        finally:
            self.write_counters()
            self.link.close()


def main(argv):
    try:
        opts = _args(argv)
    except ValueError as e:
        sys.stderr.write("%s\n%s\n" % (e.args[0], USAGE))
        return 2
    try:
        d = Daemon(opts)
    except ConfigError as e:
        sys.stderr.write("fmipkey: %s\n" % e.args[0])
        return 2
    return d.run()


if __name__ == "__main__":
    try:
        import signal  # CPython; the unix port has none (SIGTERM ends it, counters are periodic)

        def _term(signum, frame):
            raise KeyboardInterrupt
        signal.signal(signal.SIGTERM, _term)
    except ImportError:
        pass
    sys.exit(main(sys.argv[1:]))
