"""The AR daemon as the ESP32 image runs it (boards/esp32/main.py: net/esp32.py
over fmipkey_hw.RawIP6), on CPython, with lwiprelay.py standing in for the
binding and relaying to the rawip6 core on lwIP (c/lwip_relay.c).

    python lwip_ar.py RELAY_SOCKET BUNDLE_DIR [daemon options]"""
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(os.path.dirname(HERE), "firmware"), HERE]

import lwiprelay  # noqa: E402
from fmipkey import config, main  # noqa: E402
from fmipkey.net import esp32  # noqa: E402


def run(argv):
    lwiprelay.install(argv[0])
    opts = main._args(argv[1:])
    bundle = opts["bundle"]
    link = esp32.link_for(bundle, config.load(bundle + "/config.json"))
    return main.Daemon(opts, link).run()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(run(sys.argv[1:]))
