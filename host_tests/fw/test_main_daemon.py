# The AR daemon around its engine, with a fake link (no socket), under both interpreters:
# the key store reaches the flash before the PrRtAdv that carries the key, replies go to
# the MAC of the frame they answer, and I/O errors are counted, never fatal.
import json
import os
import time

from arfix import Node, key, prrtadv, rtsolpr
from daemonfix import bundle, daemon, remove
from fmipkey import compat, main, send
from fmipkey.clock import Clock
from fwtest import now_at

MN = Node("rsa1024_b.pem")
HKEPK = key("rsa1024_pkcs8.pem")
MN_MAC = b"\x02\x00\x00\x00\x00\x42"


def request(d, nonce=b"NONCE1"):
    now = time.time()
    d.link.script.append((rtsolpr(MN, d.addr, HKEPK.public, now=now, nonce=nonce), MN_MAC))
    d.handle_batch()


def test_key_saved_before_the_prrtadv_leaves_and_sent_to_the_frame_mac():
    b = bundle()
    try:
        d = daemon(b)
        request(d)
        assert len(d.ks) == 1 and not d.ks.dirty
        assert [(m, saved) for _, m, saved in d.link.sent] == [(MN_MAC, True)]
        d.call("tick", now_at(time.time()))       # timers: nothing answered, no MAC chosen here
        assert len(d.link.sent) == 1
    finally:
        remove(b)


def test_failed_save_holds_the_packet_and_is_retried():
    b = bundle(keystore_file="flash/keystore.bin")       # the directory does not exist yet
    try:
        d = daemon(b, keystore_file="flash/keystore.bin")
        request(d)
        assert d.counters["errors.save"] == 1 and d.counters["dropped.unsaved"] == 1
        assert d.link.sent == [] and d.ks.dirty
        d.call("tick", now_at(time.time()))
        assert d.counters["errors.save"] == 2               # retried, still failing, still running
        os.mkdir(b + "/flash")
        d.call("tick", now_at(time.time()))
        assert not d.ks.dirty and compat.exists(b + "/flash/keystore.bin") and d.counters["errors.save"] == 2
        request(d, b"NONCE2")                              # the MN's retransmission: the saved key
        assert len(d.link.sent) == 1 and d.link.sent[0][2] and d.engine.counters["keys.reused"] == 1
    finally:
        remove(b)


def test_memory_error_in_recv_is_counted_and_the_frame_read_next_turn():
    # the board's link driver allocates each frame in the heap: a fragmented heap may not have it
    b = bundle()
    try:
        d = daemon(b, [MemoryError()])
        d.handle_batch()
        assert d.counters["errors.memory"] == 1 and d.link.sent == []
        request(d)
        assert d.counters["errors.memory"] == 1 and len(d.link.sent) == 1
    finally:
        remove(b)


def test_link_and_counter_file_errors_are_counted_not_fatal():
    b = bundle(counters_file="gone/counters.json")
    try:
        d = daemon(b, [OSError(100), OSError(100), KeyboardInterrupt()])   # ENETDOWN twice, then stop
        assert d.run() == 0
        assert d.counters["errors.link"] == 2 and d.counters["errors.counters"] >= 1
        d.write_counters()
        os.mkdir(b + "/gone")
        d.write_counters()
        with open(b + "/gone/counters.json") as f:
            assert json.loads(f.read())["errors.link"] == 2
    finally:
        remove(b)


def test_daemon_runs_the_engine_in_unix_time_on_a_2000_epoch_port():
    from test_clock import Port2000
    unix = 1700000000
    tm = Port2000(unix * 1000 + 300, (1 << 30) - 20)       # whole seconds from 2000, ticks about to wrap
    b = bundle()
    try:
        d = daemon(b, clock=Clock(tm))
        d.link.script.append((rtsolpr(MN, d.addr, HKEPK.public, now=unix, nonce=b"NONCE1"), MN_MAC))
        d.handle_batch()                                  # the daemon reads its clock for the engine
        (pkt, _, _), = d.link.sent
        h, m = prrtadv(pkt)
        assert send.Signed(m).timestamp >> 16 == unix     # the PrRtAdv's Timestamp, in Unix seconds
        assert [e for _, _, e in d.ks.entries(unix)] == [unix + 43200]
        for ms, keys in ((43199 * 1000, 1), (1000, 0)):  # restarts: the sealed key lives until unix + 43200
            tm.advance(ms)
            assert len(daemon(b, clock=Clock(tm)).ks) == keys
    finally:
        remove(b)


class _Mount:
    def __init__(self, mounts):
        self._mounts = mounts

    def mount(self):
        return self._mounts


class VfsFat:
    pass


class VfsLfs2:
    pass


def test_key_store_on_fat_refused_littlefs_taken():
    # A board's vfs (MicroPython's mount list, faked): os.rename over a file is atomic on
    # littlefs, not on FAT, so an AR whose key store would live on FAT does not start.
    import sys
    from fmipkey.errors import ConfigError
    from fwtest import raises
    b = bundle()
    saved = sys.modules.get("vfs")
    try:
        for fs, ok in ((VfsLfs2(), True), (VfsFat(), False)):
            sys.modules["vfs"] = _Mount([(VfsLfs2(), "/"), (fs, b)])
            if ok:
                assert len(daemon(b).ks) == 0
            else:
                e = raises(ConfigError, daemon, b)
                assert "FAT" in e.args[0] and "littlefs" in e.args[0]
        sys.modules["vfs"] = _Mount([(VfsFat(), "/fat")])        # FAT elsewhere: not the store's
        assert len(daemon(b).ks) == 0
    finally:
        if saved is None:
            del sys.modules["vfs"]
        else:
            sys.modules["vfs"] = saved
        remove(b)


def test_failed_export_is_counted_not_fatal():
    # --export-keys with a full store once raised MemoryError out of export() and killed the daemon
    b = bundle()
    write_json = main._write_json

    def no_memory(path, obj, private=False):
        if path.endswith("hk.json"):
            raise MemoryError("memory allocation failed")
        write_json(path, obj, private)
    main._write_json = no_memory
    try:
        d = daemon(b, export=True)
        request(d)
        assert d.counters["errors.export"] == 1 and not compat.exists(b + "/hk.json")
        assert len(d.link.sent) == 1 and not d.ks.dirty        # the key saved and announced all the same
        main._write_json = write_json
        now = time.time()                                     # another MN: a new key, the next export
        d.link.script.append((rtsolpr(Node("rsa1024_b.pem", bytes(range(1, 17))), d.addr, HKEPK.public, now=now),
                              MN_MAC))
        d.handle_batch()
        assert len(d.link.sent) == 2 and d.counters["errors.export"] == 1
        with open(b + "/hk.json") as f:
            assert len(json.loads(f.read())) == 2
    finally:
        main._write_json = write_json
        remove(b)
