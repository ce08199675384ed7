# Runs first at every boot (after the frozen _boot.py mounted littlefs): the
# soft-AP whose link the access router serves. SSID and WPA2 key come from
# /wifi.json, {"ssid": "...", "key": "..."} (at least 8 characters).
import json
import network

try:
    with open("/wifi.json") as f:
        wifi = json.load(f)
    ap = network.WLAN(network.AP_IF)
    ap.active(True)
    ap.config(essid=wifi["ssid"], password=wifi["key"], authmode=3)  # 3: WPA2-PSK
except (OSError, ValueError, KeyError) as e:
    print("boot: no soft-AP: /wifi.json must hold {\"ssid\": ..., \"key\": ...} (%r)" % (e,))
