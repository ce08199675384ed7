# The AR daemon as the ESP32 image runs it: boards/esp32/main.py's run() (net/esp32.py
# over fmipkey_hw.RawIP6), on the MicroPython unix port, with lwiprelay.py standing in
# for the binding and relaying to the rawip6 core on lwIP (c/lwip_relay.c).
# MICROPYPATH holds firmware/, host_tests/ and boards/esp32/.
#
#     micropython lwip_ar.py RELAY_SOCKET BUNDLE_DIR [daemon options]
import sys

import lwiprelay

lwiprelay.install(sys.argv[1])
import main  # noqa: E402  boards/esp32/main.py, which needs fmipkey_hw in place

sys.exit(main.run(sys.argv[2:]))
