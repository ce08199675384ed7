# Seeded fuzzing of both engines (issue 12), shared by test_fuzz_engines_mp.py (a bounded share,
# both interpreters) and bench/bench_fuzz.py (200,000 packets under MicroPython). Inputs are
# valid packets with octets flipped, cut, extended or spliced (refitted so they pass the
# length and checksum checks often and reach the message parsers), and random packets. For
# each one: no exception may escape handle(), and unless the engine counted it as accepted,
# its state must be exactly as before.
import random

import arfix
from arfix import ALL_ROUTERS, NCOA, NOW, Node, cps, fbu, key, make_ar, rtsolpr
from test_ar_malformed import refit
from fakear import FakeAR, anchors, cfg, identity, pool
from fmipkey import config
from fmipkey.mn import MobileNode
from fwtest import now_at

MN = Node("rsa1024_b.pem")
HKEPK = key("rsa1024_pkcs8.pem")
ACCEPTED_AR = ("keys.issued", "keys.reused", "fbu.accepted", "prrtadv", "cpa")
ACCEPTED_MN = ("keys.received", "path.valid")
SHALLOW = ("received", "ignored", "dropped.malformed", "dropped.checksum", "dropped.hop_limit", "dropped.not_for_mn")


def mutate(rng, seeds):
    p = bytearray(rng.choice(seeds))
    k = rng.getrandbits(3)
    if k < 3:                                   # a few octets changed
        for _ in range(1 + rng.getrandbits(2)):
            p[rng.getrandbits(16) % len(p)] = rng.getrandbits(8)
    elif k == 3:                                # cut short
        p = p[:rng.getrandbits(16) % (len(p) + 1)]
    elif k == 4:                                # junk appended
        p += bytes(rng.getrandbits(8) for _ in range(1 + rng.getrandbits(5)))
    elif k == 5:                                # a piece of another packet spliced in
        q = rng.choice(seeds)
        i, j = rng.getrandbits(16) % len(p), rng.getrandbits(16) % len(q)
        p = p[:i] + q[j:j + 1 + rng.getrandbits(6)] + p[i:]
    elif k == 6:                                # random payload behind a valid header
        p = p[:40] + bytes(rng.getrandbits(8) for _ in range(rng.getrandbits(7)))
    else:                                       # a header field (length, next header, hop limit)
        p[4 + rng.getrandbits(2)] = rng.getrandbits(8)
    return refit(p) if rng.getrandbits(3) else p


def ar_state(ar):
    return (sorted((bytes(c), at, e) for c, at, e in ar.keystore.entries(NOW)),
            sorted((bytes(p), bytes(b.ncoa), b.expiry) for p, b in ar.bindings.items()), ar.keystore_dirty)


def mn_state(mn):
    return (mn.state, sorted((k, (v.key, v.at, v.expiry)) for k, v in mn.keys.items()), sorted(mn.known))


def _accepted(counters, before, names):
    return any(counters.get(n, 0) != before.get(n, 0) for n in names)


def _deep(counters, before):
    # a counter past the IPv6 header and the cheap checks moved: the message parsed
    for k in counters:
        if k not in SHALLOW and counters[k] != before.get(k, 0):
            return True
    return False


def _run(setup, state, names, n, rng):
    """(inputs, accepted, parsed): parsed counts the inputs that got past the parsers and the
    cheap checks. setup() -> (engine, seed packets), called again after an accepted input so
    the engine keeps waiting for what the seeds are. Time runs on 1 ms per input, so the
    rate limits let some through."""
    engine, seeds = setup()
    accepted = parsed = 0
    for i in range(n):
        p = mutate(rng, seeds) if i % 8 else bytes(rng.getrandbits(8) for _ in range(rng.getrandbits(8)))
        before, counts = state(engine), dict(engine.counters)
        engine.handle(bytes(p), now_at(NOW + 1 + i / 1000))     # an exception here fails the test or bench
        if _deep(engine.counters, counts):
            parsed += 1
        if _accepted(engine.counters, counts, names):
            accepted += 1
            engine, seeds = setup()
        else:
            assert state(engine) == before, "state changed by a refused input: %s" % bytes(p)
    return n, accepted, parsed


def fuzz_ar(n, seed=5269):
    """The AR with a key and a binding for MN, fed mutations of a signed RtSolPr, an unsigned
    one, a CPS and an FBU. An accepted input leaves the AR as it is (it keeps serving)."""
    random.seed(seed)           # MicroPython's random has no Random class: the module is the generator
    ar = make_ar()
    k, at, _ = ar.keystore.issue(MN.addr, 0, NOW, bytes(8))
    assert ar.handle(fbu(MN.addr, ar.addr, k, at), now_at(NOW))       # a binding, and the key used
    seeds = [rtsolpr(MN, ar.addr, HKEPK.public, now=NOW + 1), rtsolpr(MN, ALL_ROUTERS, aps=((0, b""),)),
             cps(MN.addr, ALL_ROUTERS, anchors=[b"\x30\x00"]), fbu(MN.addr, ar.addr, k, at, seq=2)]
    return _run(lambda: (ar, seeds), ar_state, ACCEPTED_AR, n, random)


def new_mn(ar, modifier=b"\x02" * 16):
    """A MobileNode (rsa1024_b CGA) configured with FakeAR ar as its router."""
    return MobileNode(cfg(router=config.format_addr(ar.addr)), identity("rsa1024_b.pem", modifier=modifier),
                      anchors(), pool())


def waiting_mn():
    """(AR, MN, seeds): an MN that validated the path and sent its RtSolPr; seeds: the CPAs
    it got, the PrRtAdv answering it, an FBack."""
    ar = FakeAR()
    mn = new_mn(ar)
    cpas = ar.cpas(mn.start(now_at(NOW))[0])
    for c in cpas:
        sol = mn.handle(c, now_at(NOW))
    adv = ar.prrtadv(sol[0])       # FakeAR's key, which the FBack is made with
    return ar, mn, cpas + [adv, ar.fback(arfix.fbu(mn.addr, ar.addr, ar.key, ar.at, ncoa=NCOA))]


def fuzz_mn(n, seed=5269):
    """An MN waiting for its PrRtAdv, fed mutations of the CPAs, the PrRtAdv and an FBack."""
    random.seed(seed)
    return _run(lambda: waiting_mn()[1:], mn_state, ACCEPTED_MN, n, random)
