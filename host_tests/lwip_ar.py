# The AR daemon as the ESP32 image runs it (boards/esp32/main.py: net/esp32.py
# over fmipkey_hw.RawIP6), on the MicroPython unix port, with lwiprelay.py
# standing in for the binding and relaying to the rawip6 core on lwIP
# (c/lwip_relay.c). MICROPYPATH holds firmware/ and host_tests/.
#
#     micropython lwip_ar.py RELAY_SOCKET BUNDLE_DIR [daemon options]
import sys

import lwiprelay
from fmipkey import config, main
from fmipkey.net import esp32


def run(argv):
    lwiprelay.install(argv[0])
    opts = main._args(argv[1:])
    bundle = opts["bundle"]
    link = esp32.link_for(bundle, config.load(bundle + "/config.json"))
    return main.Daemon(opts, link).run()


sys.exit(run(sys.argv[1:]))
