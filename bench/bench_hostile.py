"""The hostile link (issue 12): the simulation's AR daemon (MicroPython) with a legitimate MN
doing whole CPS/CPA -> RtSolPr/PrRtAdv -> FBU/FBack exchanges throughout, an idle baseline,
then each flood for 10 s at 100/s, 1,000/s and as fast as the attacker goes: forged, replayed
and unsecured RtSolPrs, CPS, malformed packets, thc-ipv6 flood_router26 / flood_solicitate6 /
sendpees6, and fresh Sec 0 CGAs with valid signatures (10,000 at 1,000/s, then a new MN asks).
Per flood: attack_rate (/s), attack_s (s the attacker flooded), success (fraction of legitimate exchanges done within 3 s),
p50_ms/p99_ms (of those done), ar_cpu (share of one core), ar_rss_mib, and the AR's drop
counters; "targets" holds each target beside its figure. Needs root (network namespaces)."""
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    if os.geteuid() != 0:
        print(json.dumps({"skipped": "needs root for network namespaces"}))
        return
    from fmipkey_tools import hostile
    with tempfile.TemporaryDirectory() as tmp:
        figs = hostile.run(Path(tmp) / "hostile", progress=lambda n: print(n, file=sys.stderr))
    print(json.dumps(figs))


if __name__ == "__main__":
    main()
