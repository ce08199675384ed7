# OpenWrt's UCI file (/etc/config/fmipkey) as the daemon's settings: the section
# `config fmipkey 'main'` names the bundle directory, and every config.SCHEMA key it sets
# overrides the bundle's config.json. Both pass config.validate, so a bad value gets the
# same message as in config.json, prefixed with the UCI file.
import json

from fmipkey import config
from fmipkey.compat import exists
from fmipkey.errors import ConfigError

BUNDLE = "/etc/fmipkey"
SERVICE = ("enabled", "bundle", "network")  # for the init script and the bundle, not settings
TRUE, FALSE = ("1", "on", "true", "yes", "enabled"), ("0", "off", "false", "no", "disabled")
NEIGHBOR = "ap_id,nar_lla,nar_addr,nar_prefix[,fmip]"


def words(line, where):
    """A UCI line's words: '...' quotes, "..." with backslash escapes, bare words, # comments.
    Adjacent parts join, as uci writes a ' inside a value: 'it'\\''s'."""
    out, cur, i, n = [], None, 0, len(line)
    while i < n:
        c = line[i]
        if c in " \t\r\n":
            if cur is not None:
                out.append(cur)
                cur = None
            i += 1
            continue
        if c == "#" and cur is None:
            break
        cur = cur or ""
        if c == "'":
            j = line.find("'", i + 1)
            if j < 0:
                raise ConfigError("%s: a ' quote is not closed" % where)
            cur += line[i + 1:j]
            i = j + 1
        elif c == '"':
            i += 1
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n:
                    i += 1
                cur += line[i]
                i += 1
            if i >= n:
                raise ConfigError('%s: a " quote is not closed' % where)
            i += 1
        else:
            if c == "\\" and i + 1 < n:
                i += 1
            cur += line[i]
            i += 1
    if cur is not None:
        out.append(cur)
    return out


def parse(text, path):
    """UCI text -> [(type, name or None, {option: str, list: [str]})], in file order."""
    sections = []
    for num, line in enumerate(text.split("\n"), 1):
        where = "%s line %d" % (path, num)
        w = words(line, where)
        if not w or w[0] == "package":
            continue
        if w[0] == "config" and 2 <= len(w) <= 3:
            sections.append((w[1], w[2] if len(w) == 3 else None, {}))
        elif w[0] in ("option", "list") and len(w) == 3 and sections:
            opts = sections[-1][2]
            if w[0] == "option":
                opts[w[1]] = w[2]
            else:
                prev = opts.get(w[1])
                opts[w[1]] = (prev if type(prev) is list else []) + [w[2]]
        else:
            raise ConfigError("%s: not UCI (config TYPE 'NAME', option NAME 'VALUE' or list NAME 'VALUE'); "
                              "fix it or edit with the uci command" % where)
    return sections


def section(sections, path, type_="fmipkey", name="main"):
    """The options of section `name` of `type_`, else of the first one of that type."""
    mine = [s for s in sections if s[0] == type_]
    for s in mine:
        if s[1] == name:
            return s[2]
    if not mine:
        raise ConfigError("%s: no 'config %s' section; reinstall the package's file or add one "
                          "(uci set %s.%s=%s)" % (path, type_, type_, name, type_))
    return mine[0][2]


def _number(v, num):
    try:
        return float(v) if num and "." in v else int(v)
    except ValueError:
        return v  # config.validate names it: "a whole number from ..."


def _flag(v):
    return True if v in TRUE else False if v in FALSE else v


def _neighbor(i, text):
    parts = text.split(",")
    if not 4 <= len(parts) <= 5:
        raise ConfigError("neighbors[%d]: %s is not valid; use %s (list neighbors "
                          "'02:00:00:00:02:00,02:00:00:00:02:01,2001:db8:2::1,2001:db8:2::/64')"
                          % (i, json.dumps(text), NEIGHBOR))
    n = dict(zip(config.NEIGHBOR_KEYS, parts))
    if len(parts) == 5:
        n["fmip"] = _flag(parts[4])
    return n


def settings(options):
    """UCI option strings -> the values config.validate checks (numbers parsed, neighbours
    split); service options left out."""
    out = {}
    for key in options:
        if key in SERVICE:
            continue
        v = options[key]
        kind = config.entry(key)[2]
        if kind[0] == "neighbors":
            v = [_neighbor(i, t) for i, t in enumerate(v if type(v) is list else [v])]
        elif type(v) is str and kind[0] in ("int", "num"):
            v = _number(v, kind[0] == "num")
        elif type(v) is str and kind[0] == "choice" and type(kind[1][0]) is int:
            v = _number(v, False)
        out[key] = v
    return out


def load(path):
    """(bundle directory, validated settings): the bundle's config.json, then the UCI section."""
    text = config.read(path, "reinstall the fmipkey package, which ships it")
    options = section(parse(text, path), path)
    bundle = options.get("bundle", BUNDLE)
    if type(bundle) is not str or not bundle:
        raise ConfigError("%s: bundle: give the bundle directory (uci set fmipkey.main.bundle=%s)" % (path, BUNDLE))
    bundle = bundle.rstrip("/") or "/"
    if not exists(bundle + "/config.json"):
        raise ConfigError("bundle %s: no config.json there; copy there the bundle fmipkey provision wrote, "
                          "or point fmipkey.main.bundle at it" % bundle)
    base = config.load(bundle + "/config.json")
    try:
        mine = settings(options)
        base.update(mine)
        return bundle, config.validate(base)
    except ConfigError as e:
        raise ConfigError("%s: %s" % (path, e.args[0]))
