# Runs after boot.py: the fmipkey daemon on the soft-AP, from the bundle that
# `fmipkey flash --bundle` wrote to the board's root (config.json names the
# interface "ap"). It answers `fmipkey console` on the USB serial while it runs
# (--console); Ctrl-C there stops it.
from fmipkey import config, main
from fmipkey.errors import ConfigError
from fmipkey.net import esp32


def run(argv=("/", "--console")):
    """The daemon over net/esp32.py; argv as `micropython -m fmipkey.main` takes it, bundle
    first (host_tests/lwip_ar.py runs this with another bundle)."""
    try:
        opts = main._args(list(argv))
        bundle = opts["bundle"].rstrip("/")
        link = esp32.link_for(bundle, config.load(bundle + "/config.json"))
        d = main.Daemon(opts, link)
    except ConfigError as e:
        print("fmipkey: %s" % e.args[0])
        return 2
    return d.run()


if __name__ == "__main__":   # the board runs main.py as __main__
    run()
