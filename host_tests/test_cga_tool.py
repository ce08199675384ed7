"""fmipkey cga: the numba SHA-1 against hashlib, searches checked by the firmware's
verifier and by an independent reading of RFC 3972 section 5, the RFC vector."""
import concurrent.futures as cf
import hashlib
import ipaddress
import json
import os
import signal
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import created_private
from fmipkey.crypto import cga as fw_cga
from fmipkey_tools import cgasearch
from fmipkey_tools.cga import cli

ROOT = Path(__file__).resolve().parent.parent
FMIPKEY = ROOT / ".venv" / "bin" / "fmipkey"
RFC3972_PARAMS = bytes.fromhex(
    "89a8a8b2e858d8b8f2633f44d2d4ce9b" "fe80000000000000" "00"
    "305c300d06092a864886f70d0101010500034b003048024100c2c2f137305454"
    "f10bd9cea36844b530e9211a4b262b16467cb7dfba1f595c0194f275be5a4d38"
    "6f2c3c2382508773c7867f9b3b9e63a09c7bc48f7a54ebefaf0203010001")
RFC3972_ADDR = "fe80::3c4a:5bf6:ffb4:ca6c"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def independent_check(params, addr):
    """RFC 3972 section 5, with hashlib only; returns Sec or None."""
    assert params[25] == 0x30  # SPKI: a SEQUENCE, DER length short or long form
    n = params[26]
    klen = 2 + n if n < 0x80 else 2 + (n & 0x7F) + int.from_bytes(params[27:27 + (n & 0x7F)], "big")
    spki, ext = params[25:25 + klen], params[25 + klen:]
    if params[16:24] != addr[:8] or params[24] > 2:
        return None
    h1 = hashlib.sha1(params[:25] + spki + ext).digest()[:8]
    if (h1[0] ^ addr[8]) & 0x1C or h1[1:] != addr[9:16]:
        return None
    sec = addr[8] >> 5
    h2 = hashlib.sha1(params[:16] + bytes(9) + spki + ext).digest()
    return sec if h2[:2 * sec] == bytes(2 * sec) else None


def spki(bits):
    key = rsa.generate_private_key(65537, bits)
    return key, key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def key1024(tmp_path_factory):
    key, der = spki(1024)
    path = tmp_path_factory.mktemp("keys") / "k.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path, der


# ---- the engines ------------------------------------------------------------

@pytest.mark.parametrize("length", [16, 25, 55, 56, 63, 64, 119, 120, 128, 187, 200, 319, 447, 448])
def test_numba_sha1_equals_hashlib(length):
    # 187 and 319 octets: Hash2 inputs for RSA-1024 and RSA-2048 SPKIs
    lanes = 37
    tail = os.urandom(length - 16)
    msgs = [os.urandom(16) + tail for _ in range(lanes)]
    padded = [cgasearch.sha1_pad(m) for m in msgs]
    first = np.array([struct.unpack(">16I", p[:64]) for p in padded], dtype=np.uint32).T.copy()
    rest = np.array([cgasearch.schedule(padded[0][o:o + 64]) for o in range(64, len(padded[0]), 64)],
                    dtype=np.uint32).reshape(-1, 80)
    h = cgasearch.numba_kernel()[1](first, rest)
    for j, m in enumerate(msgs):
        assert struct.pack(">5I", *h[:, j]) == hashlib.sha1(m).digest()


@pytest.mark.parametrize("bits", [1024, 2048])
def test_engines_find_the_same_first_hit(bits):
    job = cgasearch.Job(spki(bits)[1], 1, ext=b"\x00\x07\x00\x02hi")
    start = 12345
    a = cgasearch.scan_numba(job, start, 1 << 20)
    b = cgasearch.scan_hashlib(job, start, 1 << 20)
    assert a == b and a is not None
    assert hashlib.sha1(job.modifier(a) + bytes(9) + job.spki + job.ext).digest()[:2] == b"\0\0"
    # nothing earlier in the range was good
    assert not any(job.good(job.modifier(i)) for i in range(start, a))


def test_scan_crosses_a_32_bit_word_boundary():
    job = cgasearch.Job(spki(1024)[1], 1)
    start = (1 << 32) - 3000
    assert cgasearch.scan_numba(job, start, 1 << 20) == cgasearch.scan_hashlib(job, start, 1 << 20)


# ---- the CLI ----------------------------------------------------------------

def test_gen_sec1_verifies_firmware_and_independent(tmp_path, key1024):
    out = tmp_path / "r.cga"
    r = run("gen", "--sec", 1, "--prefix", "2001:db8:1:2::/64", "--out", out, "--key", key1024[0], "--workers", 2)
    assert r.exit_code == 0, r.output
    addr_text = r.stdout.strip()
    addr = ipaddress.IPv6Address(addr_text).packed
    params = out.read_bytes()
    assert params[25:25 + len(key1024[1])] == key1024[1]
    assert fw_cga.verify(addr, params) == 1
    assert independent_check(params, addr) == 1
    assert json.loads(Path(str(out) + ".json").read_text())["address"] == addr_text
    assert not Path(str(out) + ".checkpoint.json").exists()
    v = run("verify", "--params", out, "--addr", addr_text)
    assert v.exit_code == 0 and "Sec=1" in v.output


def test_gen_new_key_beside_file_with_ext(tmp_path):
    out = tmp_path / "n.cga"
    r = run("gen", "--sec", 0, "--prefix", "fe80::", "--out", out, "--ext", "000500020102", "--workers", 1)
    assert r.exit_code == 0, r.output
    key = serialization.load_pem_private_key(Path(str(out) + ".key.pem").read_bytes(), None)
    assert key.key_size == 1024
    params = out.read_bytes()
    assert params.endswith(bytes.fromhex("000500020102"))
    assert fw_cga.verify(ipaddress.IPv6Address(r.stdout.split()[0]).packed, params) == 0


def test_rfc3972_vector_via_cli(tmp_path):
    p = tmp_path / "rfc.cga"
    p.write_bytes(RFC3972_PARAMS)
    ok = run("verify", "--params", p, "--addr", RFC3972_ADDR)
    assert ok.exit_code == 0 and "Sec=1" in ok.output
    assert independent_check(RFC3972_PARAMS, ipaddress.IPv6Address(RFC3972_ADDR).packed) == 1
    bad = run("verify", "--params", p, "--addr", "fe80::3c4a:5bf6:ffb4:ca6d")
    assert bad.exit_code == 1 and "does not verify" in bad.output


@pytest.mark.parametrize("args, message", [
    (("gen", "--sec", 1, "--prefix", "2001:db8::/48", "--out", "{d}/x"), "needs a /64"),
    (("gen", "--sec", 1, "--prefix", "nonsense", "--out", "{d}/x"), "bad subnet prefix"),
    (("gen", "--sec", 5, "--prefix", "2001:db8::", "--out", "{d}/x"), "Sec 5"),
    (("gen", "--sec", 1, "--prefix", "2001:db8::", "--out", "{d}/x", "--ext", "zz"), "--ext must be hex"),
    (("gen", "--sec", 1, "--prefix", "2001:db8::", "--out", "{d}/x", "--ext", "0001000901"), "extension fields"),
    (("gen", "--sec", 1, "--prefix", "2001:db8::", "--out", "{d}/x", "--key", "{d}/none.pem"), "does not exist"),
    (("gen", "--sec", 1, "--prefix", "2001:db8::", "--out", "{d}/x", "--bits", 4096), "--bits 4096"),
    (("gen", "--prefix", "2001:db8::", "--out", "{d}/x"), "give --sec and --prefix"),
    (("verify", "--params", "{d}/none", "--addr", "fe80::1"), "does not exist"),
    (("verify", "--params", "{d}/none", "--addr", "fe80::zz"), "not an IPv6 address"),
])
def test_cli_errors(tmp_path, args, message):
    r = run(*[a.format(d=tmp_path) if isinstance(a, str) else a for a in args])
    assert r.exit_code == 2 and message in r.output, r.output
    assert not (tmp_path / "x").exists()


def test_resume_skips_searched_ranges(tmp_path, key1024, monkeypatch):
    """A checkpoint's base is reused and its ranges are not searched again; the user is told,
    and the progress bar starts at the checkpoint."""
    from rich.progress import Progress
    starts = []
    real_add = Progress.add_task
    monkeypatch.setattr(Progress, "add_task", lambda self, *a, **kw: starts.append(kw["completed"]) or
                        real_add(self, *a, **kw))
    key_path, der = key1024
    base = os.urandom(16)
    job = cgasearch.Job(der, 1, base=base)
    first = next(i for i in range(1 << 24) if job.good(job.modifier(i)))  # hashlib, not the engines
    covered = (first // job.chunk() + 1) * job.chunk()
    out = tmp_path / "r.cga"
    cp = tmp_path / "cp.json"
    cp.write_text(json.dumps({"jobs": {"r.cga": {"spki": der.hex(), "sec": 1, "ext": "", "base": base.hex(),
                                                 "done": [[0, covered]]}}}))
    r = run("gen", "--sec", 1, "--prefix", "2001:db8::", "--out", out, "--key", key_path, "--checkpoint", cp,
            "--workers", 1)
    assert r.exit_code == 0, r.output
    assert "resuming from %s: %d trials already searched of ~6.55e+04 expected" % (cp, covered) in r.stderr
    assert starts == [covered]
    modifier = out.read_bytes()[:16]
    assert modifier[:8] == base[:8]
    index = int.from_bytes(modifier[8:], "big") ^ int.from_bytes(base[8:], "big")
    assert index >= covered and modifier != job.modifier(first)
    assert not cp.exists()
    # a checkpoint for another key is refused, not silently reused
    cp.write_text(json.dumps({"jobs": {"r.cga": {"spki": "00", "sec": 1, "ext": "", "base": base.hex(), "done": []}}}))
    r = run("gen", "--sec", 1, "--prefix", "2001:db8::", "--out", out, "--key", key_path, "--checkpoint", cp,
            "--force")
    assert r.exit_code == 1 and "delete it to start afresh" in r.output


def searched(cp):
    try:
        return bool(json.loads(cp.read_text())["jobs"]["long.cga"]["done"])
    except (OSError, ValueError, KeyError):
        return False


def test_ctrl_c_saves_checkpoint_without_traceback(tmp_path, key1024):
    out = tmp_path / "long.cga"
    p = subprocess.Popen([str(FMIPKEY), "cga", "gen", "--sec", "3", "--prefix", "2001:db8::", "--out", str(out),
                          "--key", str(key1024[0]), "--workers", "2", "--yes"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    estimate = p.stderr.readline()  # printed once the rate is measured, just before the search starts
    cp = Path(str(out) + ".checkpoint.json")
    deadline = time.time() + 60
    while not searched(cp):             # the search ran long enough to save ranges it searched
        assert time.time() < deadline and p.poll() is None, "no checkpoint with searched ranges in 60 s"
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert estimate.startswith("expected ~2.81e+14 hashes")
    assert p.returncode == 1, err
    assert "Traceback" not in err and "run the same command again to resume" in err
    saved = json.loads(Path(str(out) + ".checkpoint.json").read_text())["jobs"]["long.cga"]
    assert saved["sec"] == 3 and saved["done"] and saved["done"][0][0] == 0
    assert not out.exists()


def test_fleet(tmp_path, key1024):
    fleet = tmp_path / "fleet.json"
    (tmp_path / "k.pem").write_bytes(key1024[0].read_bytes())
    fleet.write_text(json.dumps([
        {"name": "ar1", "prefix": "2001:db8:1::/64", "sec": 1, "key": "k.pem"},
        {"name": "ar2", "prefix": "2001:db8:2::/64", "sec": 1, "bits": 1024},
        {"name": "mn", "prefix": "fe80::/64", "sec": 0, "bits": 1024}]))
    r = run("gen", "--fleet", fleet, "--out", tmp_path / "out", "--workers", 2)
    assert r.exit_code == 0, r.output
    for name, sec in (("ar1", 1), ("ar2", 1), ("mn", 0)):
        info = json.loads((tmp_path / "out" / (name + ".cga.json")).read_text())
        params = (tmp_path / "out" / (name + ".cga")).read_bytes()
        addr = ipaddress.IPv6Address(info["address"]).packed
        assert independent_check(params, addr) == sec == fw_cga.verify(addr, params)
    assert (tmp_path / "out" / "ar2.cga.key.pem").exists() and not (tmp_path / "out" / "ar1.cga.key.pem").exists()


def test_dask_local_cluster(tmp_path, key1024):
    from dask.distributed import LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        out = tmp_path / "d.cga"
        r = run("gen", "--sec", 1, "--prefix", "2001:db8:9::", "--out", out, "--key", key1024[0],
                "--scheduler", cluster.scheduler_address)
    assert r.exit_code == 0, r.output
    addr = ipaddress.IPv6Address(r.stdout.split()[0]).packed
    assert independent_check(out.read_bytes(), addr) == 1


@pytest.mark.parametrize("engine", ["numba", "hashlib"])
def test_threaded_dask_worker_finds_good_modifiers(tmp_path, engine):
    """Threads of one worker share a process: each task must still get its own scratch
    (hashlib's batch array), and every hit passes the hashlib check."""
    from dask.distributed import Client, LocalCluster
    jobs = {"j%d" % i: cgasearch.Job(spki(1024)[1], 1) for i in range(6)}
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        search = cgasearch.Search(jobs, engine)
        found = search.run(cgasearch.dask_executor(client), 4)
    assert sorted(found) == sorted(jobs) and all(jobs[n].good(m) for n, m in found.items())


def test_kernels_release_the_gil():
    # Without nogil a threaded Dask worker (the default `dask worker`) reaches one core in all.
    from fmipkey_tools import sha1lanes
    assert sha1lanes.scan.targetoptions.get("nogil") and sha1lanes.digests.targetoptions.get("nogil")


def test_hashlib_batch_is_per_thread():
    import threading
    job = cgasearch.Job(spki(1024)[1], 1)
    mine = cgasearch._hashlib_batch(job.key(), threading.get_ident())[0]
    other = []
    t = threading.Thread(target=lambda: other.append(cgasearch._hashlib_batch(job.key(), threading.get_ident())[0]))
    t.start()
    t.join()
    assert other[0] is not mine


def test_cluster_slots_follow_the_cluster_threads():
    class Client:
        threads = {"w1": 2}

        def nthreads(self):
            return dict(self.threads)
    from fmipkey_tools.cga import cluster_slots
    c = Client()
    slots = cluster_slots(c, every=0)
    assert slots() == 4
    c.threads = {"w1": 2, "w2": 8}  # a worker joined
    assert slots() == 20


def test_ctrl_c_surfaces_between_waits_with_the_searched_ranges_kept(key1024):
    # interruptible's Event set by SIGINT (sent to ourselves) ends run() within a wait, not
    # at an arbitrary point inside the pool, also in a process started with SIGINT ignored
    job = cgasearch.Job(key1024[1], 3, base=bytes(16))
    search = cgasearch.Search({"j": job}, "hashlib")
    calls = []

    def on_progress(n):
        calls.append(time.monotonic())
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.signal(signal.SIGINT, signal.SIG_IGN)    # as a background job starts: SIGINT ignored
    try:
        with cf.ThreadPoolExecutor(2) as ex, cgasearch.interruptible() as stop, pytest.raises(KeyboardInterrupt):
            search.run(ex, 2, on_progress, stop)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN      # the handler is put back
    finally:
        signal.signal(signal.SIGINT, before)
    assert len(calls) >= 2 and search.done["j"] and search.done["j"][0][0] == 0


def test_a_wrong_hit_from_an_engine_is_rejected(monkeypatch, tmp_path, key1024):
    """The hashlib re-check: an engine that reports a trial as good when it is not must not
    produce a CGA (nor a checkpoint built on its ranges)."""
    monkeypatch.setitem(cgasearch.SCANNERS, "hashlib", lambda job, start, count: start)
    job = cgasearch.Job(key1024[1], 2, base=bytes(16))
    assert not job.good(job.modifier(0))
    with cf.ThreadPoolExecutor(1) as ex, pytest.raises(cgasearch.EngineError):
        cgasearch.Search({"j": job}, "hashlib").run(ex, 1)
    # the CLI says so in one line, and writes nothing
    import fmipkey_tools.cga as cga_tool
    monkeypatch.setattr(cga_tool.cgasearch, "local_executor", lambda workers, engine: cf.ThreadPoolExecutor(1))
    out = tmp_path / "w.cga"
    r = run("gen", "--sec", 1, "--prefix", "2001:db8::", "--out", out, "--key", key1024[0], "--engine", "hashlib")
    assert r.exit_code == 1 and "reported a modifier that hashlib rejects" in r.output, r.output
    assert not out.exists() and not Path(str(out) + ".checkpoint.json").exists()


@pytest.mark.parametrize("entry, message", [
    ({"sec": "two"}, 'fleet entry 0: "sec" must be a number'),
    ({"bits": "big"}, 'fleet entry 0: "bits" must be a number'),
])
def test_fleet_entry_errors(tmp_path, entry, message):
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps([dict({"name": "a", "prefix": "2001:db8:1::/64"}, **entry)]))
    r = run("gen", "--fleet", fleet, "--out", tmp_path / "out")
    assert r.exit_code == 2 and message in r.output, r.output


def test_damaged_checkpoint_entry(tmp_path, key1024):
    cp = tmp_path / "cp.json"
    cp.write_text(json.dumps({"jobs": {"r.cga": {"sec": 1, "ext": "", "base": "00" * 16, "done": []}}}))
    r = run("gen", "--sec", 1, "--prefix", "2001:db8::", "--out", tmp_path / "r.cga", "--key", key1024[0],
            "--checkpoint", cp)
    assert r.exit_code == 1 and "the entry for r.cga is damaged" in r.output and "delete the checkpoint" in r.output
    assert r.exception.__class__ is SystemExit, r.exception


def test_verify_says_when_params_are_not_der(tmp_path, key1024):
    r = run("verify", "--params", key1024[0], "--addr", "fe80::1")
    assert r.exit_code == 2 and "is not DER CGA Parameters (fmipkey cga gen writes them)" in r.output, r.output


def test_unreachable_scheduler(tmp_path, key1024):
    r = run("gen", "--sec", 1, "--prefix", "2001:db8::", "--out", tmp_path / "x", "--key", key1024[0],
            "--scheduler", "tcp://127.0.0.1:9")
    assert r.exit_code == 1 and "cannot reach the Dask scheduler" in r.output


def test_gen_refuses_an_existing_out_without_force(tmp_path, key1024):
    out = tmp_path / "r.cga"
    args = ("gen", "--sec", 0, "--prefix", "2001:db8::", "--out", out, "--key", key1024[0], "--workers", 1)
    assert run(*args).exit_code == 0
    before = out.read_bytes(), Path(str(out) + ".json").read_text()
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert ("%s already exists; use another --out, or --force to replace it (the address changes)" % out) in r.output
    assert (out.read_bytes(), Path(str(out) + ".json").read_text()) == before
    r = run(*args, "--force")
    assert r.exit_code == 0 and out.read_bytes() != before[0]
    # a fleet names every file that is in the way
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps([{"name": "a", "prefix": "2001:db8:1::/64", "sec": 0, "bits": 1024},
                                 {"name": "b", "prefix": "2001:db8:2::/64", "sec": 0, "bits": 1024}]))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.cga").write_bytes(b"old")
    r = run("gen", "--fleet", fleet, "--out", tmp_path / "out")
    assert r.exit_code == 2 and "%s already exists; use another --out, or --force" % (tmp_path / "out" / "b.cga") \
        in r.output, r.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b.cga"]


def test_a_long_search_prints_its_estimate_and_needs_yes(tmp_path):
    out = tmp_path / "long.cga"
    r = run("gen", "--sec", 3, "--prefix", "2001:db8::", "--out", out, "--workers", 1, "--engine", "hashlib")
    assert r.exit_code == 2, r.output
    est = r.stderr.splitlines()[0]
    assert est.startswith("expected ~2.81e+14 hashes; at ") and " M/s measured on 1 local worker: about " in est
    days = float(est.split("about ")[1].split()[0])
    assert days > 1000 and est.endswith(" days")  # hashlib on one core: millennia, not hours
    assert ("this search would take about %.0f days; add --yes to start it (Ctrl-C saves a checkpoint and the same "
            "command resumes)" % days) in r.output
    assert list(tmp_path.iterdir()) == []  # no key, no checkpoint, no parameters


def test_new_cga_key_is_created_0600_with_o_excl(tmp_path, opened):
    import stat
    r = run("gen", "--sec", 0, "--prefix", "fe80::", "--out", tmp_path / "n.cga", "--workers", 1)
    assert r.exit_code == 0, r.output
    (name, flags, mode), = [c for c in opened if c[0].endswith("key.pem")]
    assert name == "n.cga.key.pem" and created_private(flags, mode)
    assert stat.S_IMODE((tmp_path / "n.cga.key.pem").stat().st_mode) == 0o600
