# Runs after boot.py: the fmipkey daemon on the soft-AP, from the bundle that
# `fmipkey flash --bundle` wrote to the board's root (config.json names the
# interface "ap"). It answers `fmipkey console` on the USB serial while it runs
# (--console); Ctrl-C there stops it.
from fmipkey import config, main
from fmipkey.errors import ConfigError
from fmipkey.net import esp32


def run():
    try:
        opts = main._args(["/", "--console"])  # `fmipkey console` talks to it without stopping it
        link = esp32.link_for("", config.load("/config.json"))
        d = main.Daemon(opts, link)
    except ConfigError as e:
        print("fmipkey: %s" % e.args[0])
        return 2
    return d.run()


run()
