# What the host's `fmipkey console` calls, over the REPL or, while the daemon runs
# with --console, through the daemon (Requests below). Every function prints
# exactly one line of JSON, {"error": reason} on failure, so the host can parse
# it. Paths are relative to the working directory, the board's flash.
import json
import os
import sys
import time

from fmipkey.compat import exists
from fmipkey import config, nvs
from fmipkey.clock import Clock
from fmipkey.errors import ConfigError, ParseError, VerifyError

CONFIG = "config.json"
# `set` stages changes here; `save` validates them into config.json. A file
# rather than memory, so set and save may come from separate REPL sessions.
PENDING = "config.pending.json"


def status():
    _emit(_status)


def counters():
    _emit(_counters)


def keys():
    _emit(_keys)


def get(name):
    _emit(_get, name)


def set(name, value_text):
    _emit(_set, name, value_text)


def save():
    _emit(_save)


def reboot():
    print(json.dumps({"reboot": True}))
    _reset()


def _reset():
    try:
        import machine
        reset = getattr(machine, "reset", None)
    except ImportError:
        reset = None
    if reset:
        reset()
    sys.exit(0)  # the unix port: the service manager (or the test) restarts it


def _emit(fn, *args):
    try:
        out = fn(*args)
    except ConfigError as e:
        out = {"error": e.args[0]}
    print(json.dumps(out))


# ---- the console while the daemon runs --------------------------------------
# The daemon (fmipkey.main --console) reads its stdin, the board's serial, and
# answers a line `#fmipkey {"fn": NAME, "args": [...]}` with one line
# `#fmipkey-answer JSON`; other input is ignored, Ctrl-C stops it as at a REPL.
# At an idle REPL the request is a comment and the prompt comes back, so the host
# knows to use the raw REPL instead. Reading status never stops the AR.
REQUEST = "#fmipkey "
ANSWER = "#fmipkey-answer "
MAX_LINE = 512  # bytes: a request longer than this is dropped (the host never sends one)


class Requests:
    """Console requests from a byte stream (the daemon's stdin), read without blocking."""

    def __init__(self, stream):
        import select
        self.poll = select.poll()
        self.poll.register(stream, select.POLLIN)
        src = getattr(stream, "buffer", stream)
        self.src = getattr(src, "raw", src)  # CPython: unbuffered, so poll sees every byte
        self.line = b""
        self.closed = False

    def read(self):
        """The requests complete so far, as (fn, args); KeyboardInterrupt on Ctrl-C."""
        out = []
        while not self.closed and self.poll.poll(0):
            c = self.src.read(1)
            if not c:
                self.closed = True  # EOF: stdin is not a console (a service's /dev/null)
            elif c == b"\x03":
                raise KeyboardInterrupt
            elif c in b"\r\n":
                i = self.line.find(REQUEST.encode())  # after any stray control bytes (mpremote's Ctrl-B)
                if i >= 0:
                    out.append(_request(self.line[i + len(REQUEST):]))
                self.line = b""
            elif len(self.line) < MAX_LINE:
                self.line += c
            else:
                self.line = b"x"  # too long: not a request, drop it up to the line's end
        return out


def _request(text):
    try:
        r = json.loads(text)
        return r["fn"], list(r["args"])
    except (ValueError, KeyError, TypeError):
        return None, []


def answer(fn, args, daemon):
    """The JSON line the daemon prints for one request; `daemon` tells status that it runs."""
    calls = {"status": _status, "counters": _counters, "keys": _keys, "get": _get, "set": _set, "save": _save}
    if fn == "reboot":
        return ANSWER + json.dumps({"reboot": True})
    if fn not in calls:
        return ANSWER + json.dumps({"error": "unknown console call %s" % fn})
    try:
        out = _status(daemon) if fn == "status" else calls[fn](*args)
    except ConfigError as e:
        out = {"error": e.args[0]}
    except TypeError:
        out = {"error": "%s: wrong arguments %s" % (fn, args)}
    return ANSWER + json.dumps(out)


def _staged():
    """The configuration `set` works on: the pending one if any, else the saved one."""
    return config.load(PENDING if exists(PENDING) else CONFIG)


def _status(daemon=None):
    """What an admin checks first. daemon: set when the daemon itself answers (fmipkey.main)."""
    cfg = config.load(CONFIG)
    out = {"role": cfg["role"], "interface": cfg["interface"], "prefix": cfg["prefix"], "at": cfg["at"],
           "platform": sys.platform, "micropython": ".".join(str(v) for v in sys.implementation.version[:3]),
           "pending": _pending_names(cfg), "cga": _try(_cga_text, cfg), "daemon": daemon or _daemon(cfg),
           "certificate_expires": _try(_expiry, cfg), "drops": _try(_drops)}
    if cfg["role"] == "ar":
        out["keys"] = _try(lambda: len(_keys()["keys"]))
    try:
        import gc
        out["mem_free"] = gc.mem_free()
    except (ImportError, AttributeError):
        pass  # CPython
    return out


def _try(fn, *args):
    # One unreadable file shows as its reason; the rest of the status still answers.
    try:
        return fn(*args)
    except ConfigError as e:
        return "unknown: " + e.args[0]


def _cga_text(cfg):
    from fmipkey.crypto import cga
    try:
        with open(cfg["cga_file"], "rb") as f:
            return config.format_addr(cga.address(f.read(), cfg["cga_sec"]))
    except (OSError, ParseError, VerifyError) as e:
        raise ConfigError("%s: %s" % (cfg["cga_file"], e))


def _expiry(cfg):
    """When the router certificate (AR) or the first trust anchor to end (MN) expires."""
    from fmipkey import identity
    certs = identity.certificates(".", cfg["certs_file"] if cfg["role"] == "ar" else cfg["anchors_file"])
    end = certs[0].not_after if cfg["role"] == "ar" else min(c.not_after for c in certs)
    return config.format_time(end) + (" (expired)" if end < Clock().unix() else "")


def _daemon(cfg):
    # Called from the REPL, so no daemon holds this board's console. One running as its own
    # process (unix port) keeps daemon.json (fmipkey.main.RUNNING) and writes its counters
    # every counters_interval s; one stopped cleanly has removed daemon.json.
    try:
        with open("daemon.json") as f:
            started = json.loads(f.read())["started"]
    except (OSError, ValueError, KeyError, TypeError):
        return "not running"
    try:
        age = time.time() - os.stat(cfg["counters_file"])[8]    # mtime: the port's epoch, as time.time()
    except OSError:
        age = Clock().unix() - started
    if age <= 2 * cfg["counters_interval"] + 2:
        return "running as another process (since %s)" % config.format_time(started)
    return "not running (ended without stopping cleanly; counters last written %d s ago)" % int(age)


def _drops():
    c = _counters()["counters"]
    return dict((k, c[k]) for k in c if k.startswith("dropped."))


def _pending_names(saved):
    if not exists(PENDING):
        return []
    staged = config.load(PENDING)
    return [e[0] for e in config.SCHEMA if staged[e[0]] != saved[e[0]]]


def _counters():
    name = config.load(CONFIG)["counters_file"]
    try:
        with open(name) as f:
            return {"counters": json.loads(f.read())}
    except OSError:
        raise ConfigError("%s: not written yet; the daemon (fmipkey.main) writes it every counters_interval s" % name)
    except ValueError:
        raise ConfigError("%s: not valid JSON; delete it, the daemon writes a new one" % name)


def _keys():
    # Ids, algorithm types and lifetimes only: key bytes never leave the board.
    from fmipkey.keystore import KeyStore
    cfg = config.load(CONFIG)
    now = Clock().unix()
    in_nvs = nvs.name(cfg["device_key_file"])
    try:
        if in_nvs:
            store = KeyStore(nvs.read(in_nvs), cfg["keystore_max"], cfg["hk_lifetime"])
        else:
            with open(cfg["device_key_file"], "rb") as f:
                store = KeyStore(f.read(), cfg["keystore_max"], cfg["hk_lifetime"])
    except OSError:
        raise ConfigError("device_key_file: cannot read %s; flash the bundle that holds it" % cfg["device_key_file"])
    if not exists(cfg["keystore_file"]):
        return {"keys": []}  # no key issued yet
    try:
        store.load(cfg["keystore_file"], now)
    except (ParseError, VerifyError) as e:
        raise ConfigError("keystore_file: %s (%s)" % (cfg["keystore_file"], e.args[0]))
    return {"keys": [{"cga": config.format_addr(cga), "at": at, "remaining": expiry - now}
                     for cga, at, expiry in store.entries(now)]}


def _get(name):
    e = config.entry(name)
    return {"name": name, "value": _staged()[name], "pending": name in _pending_names(config.load(CONFIG)),
            "help": e[3]}


def _set(name, value_text):
    cfg = _staged()
    value = config.set_value(cfg, name, value_text)
    if name == "prefix":  # what provision checks; save checks the whole bundle
        try:
            _check_prefix(cfg)
        except ConfigError as e:
            raise ConfigError("not staged: %s" % e.args[0])
    config.save(PENDING, cfg)
    return {"name": name, "value": value, "pending": True}


def _save():
    saved = config.load(CONFIG)
    changed = _pending_names(saved)
    if exists(PENDING):
        staged = config.load(PENDING)
        _check_bundle(staged)
        config.save(CONFIG, staged)
        os.remove(PENDING)
    return {"saved": CONFIG, "changed": changed}


def _check_bundle(cfg):
    # Each value may be valid alone and the whole still unusable (role mn on an AR's
    # bundle, another cga_sec): the daemon would stop at the next boot, so refuse now.
    from fmipkey import identity
    try:
        identity.load(".", cfg)
        if cfg["role"] == "ar":
            identity.certificates(".", cfg["certs_file"])
        else:
            identity.certificates(".", cfg["anchors_file"])
            identity.private_keys(".", cfg["hkepk_file"])
        _check_prefix(cfg)
    except ConfigError as e:
        raise ConfigError("not saved: the bundle on this board does not load with the staged settings (%s); "
                          "stage other values with set, or flash a bundle provisioned for them" % e.args[0])


def _check_prefix(cfg):
    from fmipkey import identity
    from fmipkey.crypto import cga
    try:
        with open(cfg["cga_file"], "rb") as f:
            cga_prefix = cga.parse(f.read()).prefix
    except (OSError, ParseError):
        raise ConfigError("cga_file: cannot read CGA parameters from %s; flash the bundle that holds them"
                          % cfg["cga_file"])
    leaf = identity.certificates(".", cfg["certs_file"])[0] if cfg["role"] == "ar" else None
    identity.check_prefixes(cfg, cga_prefix, leaf)
