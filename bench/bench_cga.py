"""CGA modifier search speed: numba lanes and hashlib fallback per core, next to
`openssl speed -evp sha1` at the same Hash2 input length, measured in this run;
2 workers vs 1, Dask LocalCluster (worker processes, and one threaded worker as
a default `dask worker` is) vs local processes, and the Sec=2 estimate.

Every figure is the best of 3 runs (the worker figures of 5), the native
reference too: a busy machine only slows a run down. Each target is printed
beside its figure as {value, target, met}, so a miss shows."""
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from fmipkey_tools import cgasearch  # noqa: E402

SECONDS = 2.0
RUNS = 3  # best of, for every figure
# Worker figures: windows of 3 s, since with ~0.25 s tasks shorter ones measure start-up and the dropped tail
WINDOW = 3.0
WORKER_RUNS = 5  # more than RUNS: a 3 s window shows more of the machine's noise
# The figures issue 4 asks for: fast path per core >= 1.5x OpenSSL's single stream at the same
# input length, fallback >= 40 % of it, 2 workers >= 1.8x one, Dask >= 85 % of local
# multiprocessing on the same cores, a Sec=2 search for an RSA-1024 key under 5 minutes.
TARGETS = {"numba_vs_openssl": (">=", 1.5), "hashlib_vs_openssl": (">=", 0.4), "two_vs_one": (">=", 1.8),
           "dask_processes_vs_local": (">=", 0.85), "dask_threads_vs_local": (">=", 0.85),
           "sec2_rsa1024_estimate_s": ("<=", 300)}
NEVER = 3  # Sec 3 (2^48 work): a range is scanned to its end, so trials = range size


def job(bits):
    key = rsa.generate_private_key(65537, bits).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cgasearch.Job(spki, NEVER)


def per_core(scan, j):
    """Trials per second of one engine on this core, ~SECONDS long."""
    n = 1 << 14
    scan(j, 0, n)  # warm up (numba load, tables)
    while True:
        t = time.perf_counter()
        scan(j, 0, n)
        dt = time.perf_counter() - t
        if dt > SECONDS / 4:
            return n / dt if dt > SECONDS / 2 else per_core_n(scan, j, int(n * SECONDS / dt))
        n *= 4


def per_core_n(scan, j, n):
    t = time.perf_counter()
    scan(j, 0, n)
    return n / (time.perf_counter() - t)


def openssl_sha1(nbytes):
    out = subprocess.run(["openssl", "speed", "-evp", "sha1", "-bytes", str(nbytes), "-seconds", "2"],
                         capture_output=True, text=True).stdout
    kbytes = float(re.search(r"^sha1\s+([\d.]+)k", out, re.M).group(1))
    return kbytes * 1000 / nbytes


def pool_rate(executor, in_flight, j, seconds):
    """Trials/s of a Search on an executor, from its first finished task to its last
    after ~seconds: start-up is left out, and the work still running at either end
    (uncounted at the end, counted whole at the start) balances out."""
    search = cgasearch.Search({"b": j})
    marks = []

    def stop(n):
        marks.append((time.perf_counter(), search.trials))
        if marks[-1][0] - marks[0][0] > seconds:
            raise KeyboardInterrupt

    try:
        search.run(executor, in_flight, stop)
    except KeyboardInterrupt:
        pass
    (t0, n0), (t1, n1) = marks[0], marks[-1]
    return (n1 - n0) / (t1 - t0)


def local_rate(workers, j):
    """pool_rate on a fresh pool of local processes: tasks a stopped search leaves running
    would otherwise eat into the next window. Leaving the with block waits for them, untimed."""
    with cgasearch.local_executor(workers) as executor:
        executor.submit(int).result()  # fork the workers before the clock starts
        return pool_rate(executor, 2 * workers, j, WINDOW)


def idle(client):
    """Wait until no Dask worker thread runs a task (a cancelled task runs on to its end)."""
    while any(client.run(lambda dask_worker: len(dask_worker.active_threads)).values()):
        time.sleep(0.05)


def dask_rate(client, j):
    idle(client)
    return pool_rate(cgasearch.dask_executor(client), 4, j, WINDOW)


def target(name, value):
    op, bound = TARGETS[name]
    return {"value": round(value, 2), "target": "%s %s" % (op, bound),
            "met": value >= bound if op == ">=" else value <= bound}


def _figures(out):
    for part in out.values():
        if isinstance(part, dict) and "met" in part:
            yield part
        elif isinstance(part, dict):
            for v in part.values():
                if isinstance(v, dict):
                    yield v


def main():
    out = {"unit": "trials per second (one SHA-1 of the Hash2 input each)",
           "load_average_1min_at_start": os.getloadavg()[0]}
    for bits in (1024, 2048):
        j = job(bits)
        nbytes = len(j.hash2_input(bytes(16)))
        # best of RUNS for the reference and both engines alike (interleaved)
        runs = [(openssl_sha1(nbytes), per_core(cgasearch.scan_numba, j), per_core(cgasearch.scan_hashlib, j))
                for _ in range(RUNS)]
        ref, fast, slow = (max(r[i] for r in runs) for i in range(3))
        out["rsa%d" % bits] = {"hash2_bytes": nbytes, "openssl_sha1_per_core": round(ref),
                               "numba_per_core": round(fast), "hashlib_per_core": round(slow),
                               "numba_vs_openssl": target("numba_vs_openssl", fast / ref),
                               "hashlib_vs_openssl": target("hashlib_vs_openssl", slow / ref)}
    j = job(1024)
    from dask.distributed import Client, LocalCluster
    quiet = {"dashboard_address": None, "silence_logs": logging.CRITICAL}
    # Both Dask clusters (worker processes, and one threaded worker as a default `dask worker`
    # is) stay up while every figure is measured in turn, so drift on a shared machine hits all alike.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, **quiet) as procs, \
            LocalCluster(n_workers=1, threads_per_worker=2, processes=False, **quiet) as threads, \
            Client(procs) as on_procs, Client(threads) as on_threads:
        clients = {"processes": on_procs, "threads": on_threads}
        for client in clients.values():
            pool_rate(cgasearch.dask_executor(client), 4, j, 0.5)  # start the workers, load the kernel
        rates = {"one": [], "two": [], "processes": [], "threads": []}
        for _ in range(WORKER_RUNS):
            rates["one"].append(local_rate(1, j))
            rates["two"].append(local_rate(2, j))
            for kind, client in clients.items():
                rates[kind].append(dask_rate(client, j))
    one, two = max(rates["one"]), max(rates["two"])
    dask = {kind: max(rates[kind]) for kind in clients}
    out["rsa1024_workers"] = {"best_of": WORKER_RUNS, "one": round(one), "two": round(two),
                              "two_vs_one": target("two_vs_one", two / one),
                              "dask_2_processes": round(dask["processes"]),
                              "dask_processes_vs_local": target("dask_processes_vs_local", dask["processes"] / two),
                              "dask_1_worker_2_threads": round(dask["threads"]),
                              "dask_threads_vs_local": target("dask_threads_vs_local", dask["threads"] / two)}
    out["sec2_rsa1024_estimate_s"] = target("sec2_rsa1024_estimate_s", 2 ** 32 / two)
    out["targets_met"] = all(v["met"] for v in _figures(out))
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
