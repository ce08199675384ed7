"""The CGA modifier search (RFC 3972 section 4, steps 1-3) and the engines that run it.

Hash2 = SHA-1(modifier | 9 zero octets | DER SPKI | extensions); a modifier is
good when the leftmost 16*Sec bits are zero. The modifier is in SHA-1's first
block, so every trial hashes the whole input; but everything after the first
block is the same for every trial, so its message schedule (with the round
constants folded in) is computed once.

A search is a `Job`: the key, extensions, Sec and a random 16-octet base. Trial
number i (0 <= i < 2^64) tries the base with its low 64 bits XORed with i, so
the space splits into plain integer ranges: across lanes, processes, Dask
workers, and in a checkpoint file. Any order is valid (only the result is checked).

Engines: `numba` (many SHA-1 lanes at once, laid out so LLVM vectorises across
lanes) and `hashlib` (the fallback). Every hit is re-checked with hashlib.
"""
import concurrent.futures as cf
import contextlib
import functools
import hashlib
import os
import signal
import struct
import threading
import time

import numpy as np

SPACE = 1 << 64
LANES = 64
MAX_CHUNK = 1 << 22  # trials per task: about half a second, so Ctrl-C and progress stay responsive


class Job:
    """One modifier search. Picklable, so it travels to worker processes and Dask."""

    def __init__(self, spki, sec, ext=b"", base=None):
        if not 0 <= sec <= 3:
            raise ValueError("Sec must be 0..3")
        self.spki, self.sec, self.ext = bytes(spki), sec, bytes(ext)
        self.base = bytes(base) if base is not None else os.urandom(16)

    def key(self):
        return (self.spki, self.sec, self.ext, self.base)

    def modifier(self, i):
        low = int.from_bytes(self.base[8:], "big") ^ i
        return self.base[:8] + low.to_bytes(8, "big")

    def hash2_input(self, modifier):
        return bytes(modifier) + bytes(9) + self.spki + self.ext

    def good(self, modifier):
        """The hashlib check of one modifier (RFC 3972 5, step 7)."""
        zero = 2 * self.sec
        return hashlib.sha1(self.hash2_input(modifier)).digest()[:zero] == bytes(zero)

    def masks(self):
        """Bits of Hash2's first two 32-bit words that must be zero."""
        top = ((1 << 16 * self.sec) - 1) << (64 - 16 * self.sec)
        return top >> 32, top & 0xFFFFFFFF

    def chunk(self):
        return min(MAX_CHUNK, max(1 << 12, 1 << (16 * self.sec)))


# ---- the hashlib engine ---------------------------------------------------

HASHLIB_BATCH = 4096


@functools.lru_cache(maxsize=32)
def _hashlib_batch(job_key, thread):
    """A reusable (batch, message length) array of Hash2 inputs and a memoryview of each row;
    one per thread, since a scan writes into it (threads of one Dask worker share the cache)."""
    spki, sec, ext, base = job_key
    msg = Job(spki, sec, ext, base).hash2_input(base)
    arr = np.frombuffer(msg * HASHLIB_BATCH, np.uint8).reshape(HASHLIB_BATCH, len(msg)).copy()
    flat = memoryview(arr).cast("B")
    return arr, [flat[k * len(msg):(k + 1) * len(msg)] for k in range(HASHLIB_BATCH)]


def scan_hashlib(job, start, count):
    """First i in [start, start+count) with a good modifier, or None (Sec >= 1). The loop
    around OpenSSL's SHA-1 is kept thin: copying an empty SHA-1 object is cheaper than
    making a new one, and a digest whose leftmost 2*Sec octets are zero is exactly one
    below 2*Sec-1 zero octets and a one, so one comparison replaces slicing it (~10 %)."""
    arr, rows = _hashlib_batch(job.key(), threading.get_ident())
    bound = bytes(2 * job.sec - 1) + b"\x01"
    fresh = hashlib.sha1().copy
    low = np.uint64(int.from_bytes(job.base[8:], "big"))
    for s in range(start, start + count, HASHLIB_BATCH):
        m = min(HASHLIB_BATCH, start + count - s)
        arr[:m, 8:16] = (np.arange(s, s + m, dtype=np.uint64) ^ low).astype(">u8").view(np.uint8).reshape(m, 8)
        for i in range(m):
            h = fresh()
            h.update(rows[i])
            if h.digest() < bound:
                return s + i
    return None


# ---- the numba engine -----------------------------------------------------

IV = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
K = (0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xCA62C1D6)


def sha1_pad(msg):
    return msg + b"\x80" + bytes((55 - len(msg)) % 64) + struct.pack(">Q", 8 * len(msg))


def schedule(block):
    """The 80-word message schedule of one 64-octet block, with K[t] added (numpy, once per job)."""
    w = [int.from_bytes(block[4 * t:4 * t + 4], "big") for t in range(16)]
    for t in range(16, 80):
        x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]
        w.append(((x << 1) | (x >> 31)) & 0xFFFFFFFF)
    return [(w[t] + K[t // 20]) & 0xFFFFFFFF for t in range(80)]


@functools.lru_cache(maxsize=8)
def tables(job_key):
    """(first block words, later blocks' K+W schedules as (n, 80) uint32, masks) for a job."""
    spki, sec, ext, base = job_key
    padded = sha1_pad(bytes(16) + bytes(9) + spki + ext)
    first = np.array(struct.unpack(">16I", padded[:64]), dtype=np.uint32)
    first[:4] = struct.unpack(">4I", base)
    rest = np.array([schedule(padded[o:o + 64]) for o in range(64, len(padded), 64)], dtype=np.uint32)
    m0, m1 = Job(spki, sec, ext, base).masks()
    return first, rest.reshape(-1, 80), np.uint32(m0), np.uint32(m1)


@functools.lru_cache(maxsize=1)
def numba_kernel():
    """(scan, digests): the multi-lane kernels, compiled once and cached on disk by numba."""
    from fmipkey_tools import sha1lanes
    sha1lanes.scan(*tables(Job(b"\x30\x00", 1, base=bytes(16)).key()), 0, 0, 1)  # load or compile now
    return sha1lanes.scan, sha1lanes.digests


def scan_numba(job, start, count):
    first, rest, m0, m1 = tables(job.key())
    kernel = numba_kernel()[0]
    i, end = start, start + count
    while i < end:
        hi, lo = i >> 32, i & 0xFFFFFFFF
        n = min(end - i, (1 << 32) - lo)
        k = kernel(first, rest, m0, m1, hi, lo, n)
        if k >= 0:
            return i + k
        i += n
    return None


def available_engines():
    try:
        import numba  # noqa: F401
        return ("numba", "hashlib")
    except ImportError:
        return ("hashlib",)


SCANNERS = {"numba": scan_numba, "hashlib": scan_hashlib}


# ---- splitting a search across workers -----------------------------------

def scan(engine, job, start, count):
    """One task: the entry point for worker processes and Dask workers."""
    return SCANNERS[engine](job, start, count)


def _ignore_sigint():
    # Ctrl-C is the parent's to handle: it saves the checkpoint and stops the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


STOP_POLL = 0.2  # s: how soon a set `stop` ends Search.run


@contextlib.contextmanager
def interruptible():
    """An Event that Ctrl-C (SIGINT) sets, for Search.run's stop: the interrupt then surfaces
    at a point of our choosing, not inside concurrent.futures or multiprocessing, where an
    asynchronous KeyboardInterrupt can leave a lock or pipe half-used. The handler is set
    even when the process started with SIGINT ignored (a background job, nohup), where
    Python's own handler is not and `kill -INT` would do nothing."""
    stop = threading.Event()
    old = signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, old)


def local_executor(workers, engine="numba"):
    if engine == "numba":
        numba_kernel()  # load (or compile) once here; forked workers inherit it
    return cf.ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint)


def dask_executor(client):
    """A concurrent.futures view of a Dask client. Cancelling the tasks left over
    once a modifier is found makes Dask and tornado log errors; they are expected."""
    import logging
    for name in ("distributed.client", "distributed.scheduler", "distributed.worker", "tornado.application"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return client.get_executor(pure=False)


def add_range(ranges, start, end):
    """Merge [start, end) into a sorted list of disjoint [s, e) pairs."""
    out = []
    for s, e in sorted(ranges + [[start, end]]):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


def covered(ranges, start, end):
    return any(s <= start and end <= e for s, e in ranges)


def _chunks(job, done):
    step = job.chunk()
    for s in range(0, SPACE, step):
        if not covered(done, s, s + step):
            yield s, step


class EngineError(Exception):
    """An engine reported a modifier that the hashlib check rejects (a bug in the engine)."""


class Search:
    """Searches many jobs on one executor (local processes or Dask), a few tasks
    in flight per worker. `done` maps job name -> searched ranges (the checkpoint)."""

    def __init__(self, jobs, engine="numba", done=None):
        self.jobs = dict(jobs)
        self.engine = engine
        self.done = {name: list((done or {}).get(name, [])) for name in self.jobs}
        self.found = {}
        self.trials = 0

    def run(self, executor, in_flight, on_progress=None, stop=None):
        """Run until every job has a modifier; returns {name: modifier}. in_flight: tasks
        kept running, or a function giving it (a Dask cluster may grow while it runs).
        stop: a threading.Event; once set, KeyboardInterrupt is raised here, between two
        waits (see interruptible)."""
        limit = in_flight if callable(in_flight) else (lambda: in_flight)
        pending = {name: _chunks(job, self.done[name]) for name, job in self.jobs.items() if job.sec}
        for name, job in self.jobs.items():
            if not job.sec:  # Sec 0: any modifier will do
                self.found[name] = job.modifier(0)
        running = {}
        try:
            while pending or running:
                slots = limit()
                for name in list(pending):
                    while len(running) < slots and name in pending:
                        s, n = next(pending[name])
                        running[executor.submit(scan, self.engine, self.jobs[name], s, n)] = (name, s, n)
                    if len(running) >= slots:
                        break
                finished, _ = cf.wait(running, timeout=STOP_POLL, return_when=cf.FIRST_COMPLETED)
                if stop is not None and stop.is_set():
                    raise KeyboardInterrupt
                for fut in finished:
                    if fut not in running:  # cancelled: its job was found meanwhile
                        continue
                    name, s, n = running.pop(fut)
                    if name in self.found:
                        continue
                    self._finish(name, s, n, fut.result(), pending, running)
                    if on_progress:
                        on_progress(n)
        finally:
            for fut in running:
                fut.cancel()
        return self.found

    def _finish(self, name, s, n, hit, pending, running):
        job = self.jobs[name]
        self.trials += n if hit is None else hit - s + 1
        if hit is None:
            self.done[name] = add_range(self.done[name], s, s + n)
            return
        modifier = job.modifier(hit)
        if not job.good(modifier):
            raise EngineError("engine %s reported a modifier that hashlib rejects" % self.engine)
        self.found[name] = modifier
        pending.pop(name, None)
        # Dropped, not waited for: a Dask future cancelled while running may never complete.
        for fut in [f for f, (other, _, _) in running.items() if other == name]:
            fut.cancel()
            del running[fut]
