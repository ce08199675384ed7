# The access router's handover keys (rfc5269 3.2, 3.6): one per MN care-of CGA, with its
# algorithm type (AT), HK-LIFETIME expiry, the last FBU sequence number accepted under it
# (replay protection that outlives bindings and restarts) and its owner (the CGA public
# key, to cap keys per key); bounded; sealed at rest under the device key so copying the
# file reveals no key; saved atomically.
#
# RAM: one table of max_entries fixed slots and one index, both allocated when the store
# is made and never grown (a dict that grows needs a contiguous block a fragmented heap may
# not have): SLOT octets per key plus two index entries, whatever the word size. The table
# is allocated in pages of PAGE slots (624 octets), not in one block: a board's heap after
# its imports has many holes of a kilobyte and few of ten, so one 10 KB block for 256 keys
# would need heap beyond the holes (measured on the unix port: 27 KB more, bench_heap). A slot
# holds no key bytes but a random nonce: the key is HMAC-SHA256(secret, CGA | AT | nonce)
# cut to the AT's length (badf.key_len), the secret derived from the device key, which
# also seals the file.
import os
import struct
from array import array

from fmipkey.badf import ALGS, key_len
from fmipkey.compat import const, fsync, fsync_dir
from fmipkey.crypto import backend, hmac
from fmipkey.errors import ConfigError, ParseError, VerifyError

HK_LIFETIME = const(43200)  # rfc5269 3.7 default, seconds
MAX_ENTRIES = const(256)

# Slot (and file record): CGA (16) | flags+AT (1) | expiry (4, Unix s) | FBU seq (2) |
# owner (8) | nonce (8). File: MAGIC | nonce (12) | records, AES-256-CTR | tag (32).
# tag = HMAC-SHA256(mac key, SHA-256(MAGIC | nonce | ciphertext)): hashing first lets
# save/load stream the file through a small buffer.
MAGIC = b"FKKS\x03"
SLOT = const(39)
USED = const(0x40)     # flags+AT bit: the slot holds a key (on file: always set)
SEQ_SET = const(0x80)  # flags+AT bit: an FBU was accepted, the seq field is valid
AT_MASK = const(0x0F)
OWNER_LEN = const(8)   # octets of the owner tag: SEND key hash prefix (2^64 to collide)
_NONCE = const(12)
_TAG = const(32)
_HEAD = const(17)  # len(MAGIC) + _NONCE
_CHUNK = const(6)  # records read per step: bounds the extra RAM
PAGE = const(16)   # slots per page of the table


class KeyStore:
    """Handover keys by CGA, in slots 0..len-1 of one preallocated table (removing a key
    moves the last slot into its place) found through an open-addressing index (linear
    probing from a salted hash, so no one can choose CGAs that collide). A key no
    authenticated FBU has used yet is provisional (anyone with a fresh CGA can get one).
    When the store is full, expired keys go first, then the oldest provisional key (counted
    in `evicted`); a key an FBU has used is never pushed out by a new request: with only
    those left the new key is refused (`refused`). docs/hostile-link.md has the whole
    policy. Times (`now`, expiry) are integer Unix seconds."""

    def __init__(self, device_key, max_entries=MAX_ENTRIES, lifetime=HK_LIFETIME):
        if len(device_key) != 32:
            raise ConfigError("device key must be 32 octets, got %d" % len(device_key))
        # separate keys for encryption, MAC and the handover keys, each bound to its purpose
        self._enc = hmac.digest("sha256", device_key, b"fmipkey keystore enc")
        self._mac = hmac.digest("sha256", device_key, b"fmipkey keystore mac")
        self._hk = hmac.Key("sha256", hmac.digest("sha256", device_key, b"fmipkey handover keys"))
        self._salt = backend.random_bytes(16)
        self.max_entries = max_entries
        self.lifetime = lifetime
        self.refused = 0
        self.evicted = 0
        self.dirty = False  # changed since the last save/load
        self._pages = [bytearray(min(PAGE, max_entries - i) * SLOT) for i in range(0, max_entries, PAGE)]
        # index entries: slot + 1, 0 empty; at most half full, so a probe ends soon
        wide = max_entries >= 0xFFFF
        self._index = array("I" if wide else "H", bytes((4 if wide else 2) * (2 * max_entries + 1)))
        self._n = 0

    def __len__(self):
        return self._n

    # ---- the table -------------------------------------------------------------------

    def _home(self, cga):
        d = backend.sha256(self._salt + cga).digest()
        return ((d[0] << 16) | (d[1] << 8) | d[2]) % len(self._index)

    def _at(self, s):
        """(page, offset) of slot s."""
        return self._pages[s // PAGE], s % PAGE * SLOT

    def _cga(self, s):
        p, o = self._at(s)
        return bytes(p[o:o + 16])

    def _find(self, cga):
        """(index position, slot): the CGA's, or the empty position it would take and -1."""
        idx = self._index
        i = self._home(cga)
        while idx[i]:
            s = idx[i] - 1
            p, o = self._at(s)
            if p[o:o + 16] == cga:
                return i, s
            i = (i + 1) % len(idx)
        return i, -1

    def _slot(self, cga):
        return self._find(bytes(cga))[1]

    def _insert(self, cga):
        """The CGA's slot, a new one (the last) when it has none; the caller made room."""
        i, s = self._find(cga)
        if s < 0:
            s = self._n
            self._index[i] = s + 1
            self._n += 1
        return s

    def _field(self, s, fmt, off):
        p, o = self._at(s)
        return struct.unpack_from(fmt, p, o + off)[0]

    def _expiry(self, s):
        return self._field(s, ">I", 17)

    def _flags(self, s):
        p, o = self._at(s)
        return p[o + 16]

    def _owner(self, s):
        p, o = self._at(s)
        return p[o + 23:o + 31]

    def _remove(self, i, s):
        # Index position i (slot s) emptied by shifting back the entries after it that may
        # move (linear probing without tombstones); then the last slot fills slot s.
        idx = self._index
        size = len(idx)
        j = i
        while True:
            j = (j + 1) % size
            if not idx[j]:
                break
            h = self._home(self._cga(idx[j] - 1))
            if not (i < h <= j if i <= j else h > i or h <= j):
                idx[i] = idx[j]
                i = j
        idx[i] = 0
        last = self._n - 1
        lp, lo = self._at(last)
        if s != last:
            idx[self._find(self._cga(last))[0]] = s + 1
            p, o = self._at(s)
            p[o:o + SLOT] = lp[lo:lo + SLOT]
        lp[lo + 16] = 0
        self._n = last
        self.dirty = True

    def _key(self, s):
        p, o = self._at(s)
        at = p[o + 16] & AT_MASK
        return self._hk.digest(bytes(p[o:o + 16]) + bytes((at,)) + bytes(p[o + 31:o + 39]))[:key_len(at)]

    # ---- what the AR asks --------------------------------------------------------------

    def get(self, cga, now):
        """(key, at, expiry) for this CGA, or None; an expired key is dropped."""
        i, s = self._find(bytes(cga))
        if s < 0:
            return None
        expiry = self._expiry(s)
        if now >= expiry:
            self._remove(i, s)
            return None
        return self._key(s), self._flags(s) & AT_MASK, expiry

    def last_seq(self, cga):
        """Sequence number of the last FBU accepted under the CGA's key, or None."""
        s = self._slot(cga)
        return self._field(s, ">H", 21) if s >= 0 and self._flags(s) & SEQ_SET else None

    def accept_seq(self, cga, seq):
        """Record an accepted FBU's sequence number with the CGA's key (which must exist)."""
        s = self._slot(cga)
        if s < 0:
            raise KeyError("no key for this CGA")
        p, o = self._at(s)
        p[o + 16] |= SEQ_SET
        struct.pack_into(">H", p, o + 21, seq)
        self.dirty = True

    def owned(self, owner, now):
        """How many live keys belong to `owner`."""
        owner = bytes(owner)
        return sum(1 for s in range(self._n) if self._owner(s) == owner and now < self._expiry(s))

    def provisional(self, cga):
        """True when the CGA has a key that no authenticated FBU has used yet."""
        s = self._slot(cga)
        return s >= 0 and not self._flags(s) & SEQ_SET

    def confirmed(self, cga, now):
        """True when the CGA has a live key an authenticated FBU has used: one lookup, no key
        derived (the AR asks it of every RtSolPr, before any limit on verifications)."""
        s = self._slot(cga)
        return s >= 0 and self._flags(s) & SEQ_SET != 0 and now < self._expiry(s)

    def issue(self, cga, at, now, owner=bytes(OWNER_LEN)):
        """rfc5269 3.2: the CGA's existing key when its AT is `at` or stronger, else a new
        random key for `at` (3.6; it replaces a weaker one, so the Reply's AT is never below
        the request's). (key, at, expiry), or None when the store is full of live keys (the
        key is refused). owner: OWNER_LEN octets naming the CGA public key. A live key is
        only ever handed to, or replaced for, its owner: another public key that verifies
        for the same CGA (a second preimage of a Sec 0 address) gets VerifyError (code
        "owner") and the key stays as it is. A new key has no FBU sequence number yet."""
        if key_len(at) is None:
            raise ValueError("unknown AT %d" % at)
        if len(owner) != OWNER_LEN:
            raise ValueError("owner must be %d octets" % OWNER_LEN)
        cga = bytes(cga)
        rec = self.get(cga, now)
        s = self._slot(cga)
        if rec is not None and self._owner(s) != bytes(owner):
            raise VerifyError("its handover key belongs to another public key", "owner")
        if rec is not None and rec[1] >= at:
            return rec
        if s < 0 and self._n >= self.max_entries:
            self.purge(now)
            if self._n >= self.max_entries and not self._evict():
                self.refused += 1
                return None
        s = self._insert(cga)
        expiry = int(now) + self.lifetime
        p, o = self._at(s)
        struct.pack_into(">16sBIH8s8s", p, o, cga, USED | at, expiry, 0, owner, backend.random_bytes(8))
        self.dirty = True
        return self._key(s), at, expiry

    def entries(self, now):
        """(cga, at, expiry) of every live key, for the console: never key bytes."""
        return [(self._cga(s), self._flags(s) & AT_MASK, self._expiry(s))
                for s in range(self._n) if now < self._expiry(s)]

    def discard(self, cga):
        """Forget the CGA's key (rfc5269 3.6: forwarding for its care-of address ended)."""
        i, s = self._find(bytes(cga))
        if s >= 0:
            self._remove(i, s)

    def _evict(self):
        # the oldest provisional key: all keys live `lifetime`, so the earliest expiry was issued first
        old, oldest = -1, None
        for s in range(self._n):
            if not self._flags(s) & SEQ_SET:
                e = self._expiry(s)
                if oldest is None or e < oldest:
                    old, oldest = s, e
        if old < 0:
            return False
        self._remove(self._find(self._cga(old))[0], old)
        self.evicted += 1
        return True

    def purge(self, now):
        """Drop every expired key; returns how many."""
        gone = 0
        for s in range(self._n - 1, -1, -1):   # downwards: a removal moves a checked slot into s
            if now >= self._expiry(s):
                self._remove(self._find(self._cga(s))[0], s)
                gone += 1
        return gone

    def _clear(self):
        for i in range(len(self._index)):
            self._index[i] = 0
        for p in self._pages:
            p[:] = bytes(len(p))
        self._n = 0

    # ---- the sealed file ---------------------------------------------------------------

    def save(self, path):
        """Seal every key into `path`: write `path`.tmp, sync it, rename it over
        `path` (atomic on POSIX and littlefs, not on FAT: boards/esp32 uses littlefs)
        and sync the directory, so a crash or a power loss leaves the old file or the
        new one. Streams slot by slot: no copy of the whole store in RAM."""
        nonce = backend.random_bytes(_NONCE)
        ctr = _Ctr(self._enc, nonce)
        h = backend.sha256(MAGIC + nonce)
        tmp = path + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(MAGIC + nonce)
                for s in range(self._n):
                    p, o = self._at(s)
                    ct = ctr.xor(p[o:o + SLOT])
                    h.update(ct)
                    f.write(ct)
                f.write(hmac.digest("sha256", self._mac, h.digest()))
                fsync(f)                   # the data on the medium before the name points at it
            os.rename(tmp, path)
            fsync_dir(_dirname(path))      # and the new name too: power loss keeps old or new
        except Exception:  # OSError, or MemoryError mid-write: leave no half file behind
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise
        self.dirty = False

    def load(self, path, now):
        """Replace the keys with those sealed in `path` (expired ones skipped).
        Refuses a truncated file (ParseError), a tampered file or one sealed
        under another device key (VerifyError), or more live keys than
        max_entries (ParseError), a file of another format version (ParseError
        naming both versions); on any of these the store is unchanged. Two passes:
        authenticate and check every record, then decrypt them into the table; a file
        changed between the two (VerifyError) leaves the store empty."""
        body = os.stat(path)[6] - _HEAD - _TAG
        with open(path, "rb") as f:
            head = f.read(_HEAD)
            if len(head) >= 5 and head[:4] == MAGIC[:4] and head[4] != MAGIC[4]:
                raise ParseError("key store file: format version %d, this firmware reads version %d only;"
                                 " remove the file (MNs ask for new keys)" % (head[4], MAGIC[4]))
            if body < 0 or body % SLOT or head[:len(MAGIC)] != MAGIC:
                raise ParseError("key store file: not a sealed key store or truncated")
            digest = None
            for fill in (False, True):
                f.seek(_HEAD)
                h = backend.sha256(head)
                ctr = _Ctr(self._enc, head[len(MAGIC):])
                if fill:
                    self._clear()
                bad, live, left = False, 0, body
                try:
                    while left:
                        n = min(_CHUNK * SLOT, left)
                        left -= n
                        recs = ctr.xor(_read(f, n, h))
                        for o in range(0, n, SLOT):
                            flags = recs[o + 16]
                            if flags & (USED | 0x30) != USED or flags & AT_MASK not in ALGS:
                                bad = True
                            elif now < struct.unpack_from(">I", recs, o + 17)[0]:
                                live += 1
                                if fill and self._n < self.max_entries:
                                    p, po = self._at(self._insert(recs[o:o + 16]))
                                    p[po:po + SLOT] = recs[o:o + SLOT]
                    if fill and h.digest() != digest:
                        raise VerifyError("key store file: changed while loading")
                except VerifyError:
                    if fill:
                        self._clear()
                    raise
                if not fill:
                    digest = h.digest()
                    if not hmac.equal(hmac.digest("sha256", self._mac, digest), _read(f, _TAG, None)):
                        raise VerifyError("key store file: MAC mismatch (tampered, or sealed under another"
                                          " device key)")
                    if bad:
                        raise ParseError("key store file: bad record")
                    if live > self.max_entries:
                        raise ParseError("key store file: more live keys than max_entries %d" % self.max_entries)
        self.dirty = False


def _dirname(path):
    i = path.rfind("/")
    return "." if i < 0 else path[:i] or "/"


def _read(f, n, h):
    # exactly n octets (the size was checked: a short read means the file changed), hashed into h
    data = f.read(n)
    if len(data) != n:
        raise VerifyError("key store file: changed while loading")
    if h is not None:
        h.update(data)
    return data


class _Ctr:
    """AES-256 in counter mode built from ECB (the boards' cryptolib has no
    CTR): keystream block i = AES(key, nonce | i as 4 octets)."""

    def __init__(self, key, nonce):
        self._aes = backend.aes_ecb(key)
        self._nonce = bytes(nonce)
        self._block = 0
        self._ks = b""  # keystream made but not used yet

    def xor(self, data):
        n = len(data)
        if len(self._ks) < n:
            need = (n - len(self._ks) + 15) // 16
            ctr = b"".join(self._nonce + struct.pack(">I", self._block + i) for i in range(need))
            self._ks += self._aes.encrypt(ctr)
            self._block += need
        ks, self._ks = self._ks[:n], self._ks[n:]
        return (int.from_bytes(data, "big") ^ int.from_bytes(ks, "big")).to_bytes(n, "big")
