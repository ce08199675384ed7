# The access router's handover keys (rfc5269 3.2, 3.6): one per MN care-of
# CGA, with its algorithm type (AT), HK-LIFETIME expiry, the last FBU sequence
# number accepted under it (replay protection that outlives bindings and
# restarts) and its owner (the CGA public key, to cap keys per key); bounded;
# sealed at rest under the device key so copying the file reveals no key;
# saved atomically.
import os
import struct

from fmipkey.badf import key_len
from fmipkey.compat import const, fsync, fsync_dir
from fmipkey.crypto import backend, hmac
from fmipkey.errors import ConfigError, ParseError, VerifyError

HK_LIFETIME = const(43200)  # rfc5269 3.7 default, seconds
MAX_ENTRIES = const(256)

# File: MAGIC | nonce (12) | ciphertext | tag (32). Plaintext: records
# CGA (16) | flags+AT (1) | expiry (4, Unix s) | FBU seq (2) | owner (8) |
# key (badf.key_len(AT)), AES-256-CTR; the RAM record is the same without the CGA.
# tag = HMAC-SHA256(mac key, SHA-256(MAGIC | nonce | ciphertext)): hashing
# first lets save/load stream the file through a small buffer.
MAGIC = b"FKKS\x02"
SEQ_SET = const(0x80)  # flags+AT bit: an FBU was accepted, the seq field is valid
OWNER_LEN = const(8)   # octets of the owner tag: SEND key hash prefix (2^64 to collide)
_REC = const(15)       # RAM record head: flags+AT | expiry | seq | owner
_NONCE = const(12)
_TAG = const(32)
_HEAD = const(17)  # len(MAGIC) + _NONCE
_CHUNK = const(256)  # file octets hashed per read: bounds the extra RAM


class KeyStore:
    """Handover keys by CGA. In RAM each key is one dict entry, CGA bytes ->
    bytes flags+AT | expiry | seq | owner | key (no object per key). A key no
    authenticated FBU has used yet is provisional (anyone with a fresh CGA can get
    one). When the store is full, expired keys go first, then the oldest
    provisional key (counted in `evicted`); a key an FBU has used is never pushed
    out by a new request: with only those left the new key is refused (`refused`).
    docs/hostile-link.md has the whole policy."""

    def __init__(self, device_key, max_entries=MAX_ENTRIES, lifetime=HK_LIFETIME):
        if len(device_key) != 32:
            raise ConfigError("device key must be 32 octets, got %d" % len(device_key))
        # separate keys for encryption and MAC, both bound to this purpose
        self._enc = hmac.digest("sha256", device_key, b"fmipkey keystore enc")
        self._mac = hmac.digest("sha256", device_key, b"fmipkey keystore mac")
        self.max_entries = max_entries
        self.lifetime = lifetime
        self.refused = 0
        self.evicted = 0
        self.dirty = False  # changed since the last save/load
        self._keys = {}

    def __len__(self):
        return len(self._keys)

    def get(self, cga, now):
        """(key, at, expiry) for this CGA, or None; an expired key is dropped."""
        cga = bytes(cga)
        rec = self._keys.get(cga)
        if rec is None:
            return None
        at, expiry = struct.unpack_from(">BI", rec)
        if now >= expiry:
            del self._keys[cga]
            self.dirty = True
            return None
        return rec[_REC:], at & 0x7F, expiry

    def last_seq(self, cga):
        """Sequence number of the last FBU accepted under the CGA's key, or None."""
        rec = self._keys.get(bytes(cga))
        return struct.unpack_from(">H", rec, 5)[0] if rec and rec[0] & SEQ_SET else None

    def accept_seq(self, cga, seq):
        """Record an accepted FBU's sequence number with the CGA's key (which must exist)."""
        cga = bytes(cga)
        rec = self._keys[cga]
        self._keys[cga] = bytes((rec[0] | SEQ_SET,)) + rec[1:5] + struct.pack(">H", seq) + rec[7:]
        self.dirty = True

    def owned(self, owner, now):
        """How many live keys belong to `owner`."""
        owner = bytes(owner)
        return sum(1 for rec in self._keys.values() if rec[7:_REC] == owner and now < struct.unpack_from(">I", rec, 1)[0])

    def put(self, cga, key, at, now, owner=bytes(OWNER_LEN)):
        """Store (or replace) the CGA's key, with no FBU sequence number yet;
        returns its expiry, or None when the store is full of live keys (the
        key is refused). owner: OWNER_LEN octets naming the CGA public key."""
        if key_len(at) != len(key):
            raise ValueError("AT %d needs a %s-octet key" % (at, key_len(at)))
        cga = bytes(cga)
        if cga not in self._keys and len(self._keys) >= self.max_entries:
            self.purge(now)
            if len(self._keys) >= self.max_entries and not self._evict():
                self.refused += 1
                return None
        if len(owner) != OWNER_LEN:
            raise ValueError("owner must be %d octets" % OWNER_LEN)
        expiry = int(now) + self.lifetime
        self._keys[cga] = struct.pack(">BIH", at, expiry, 0) + owner + key
        self.dirty = True
        return expiry

    def issue(self, cga, at, now, owner=bytes(OWNER_LEN)):
        """rfc5269 3.2: the CGA's existing key when its AT is `at` or stronger,
        else a new random key for `at` (3.6; it replaces a weaker one, so the
        Reply's AT is never below the request's). (key, at, expiry), or None if full.
        A live key is only ever handed to, or replaced for, its owner: another public key
        that verifies for the same CGA (a second preimage of a Sec 0 address) gets
        VerifyError (code "owner") and the key stays as it is."""
        rec = self.get(cga, now)
        if rec is not None and self._keys[bytes(cga)][7:_REC] != bytes(owner):
            raise VerifyError("its handover key belongs to another public key", "owner")
        if rec is not None and rec[1] >= at:
            return rec
        key = backend.random_bytes(key_len(at))
        expiry = self.put(cga, key, at, now, owner)
        return None if expiry is None else (key, at, expiry)

    def entries(self, now):
        """(cga, at, expiry) of every live key, for the console: never key bytes."""
        for cga, rec in self._keys.items():
            at, expiry = struct.unpack_from(">BI", rec)
            if now < expiry:
                yield cga, at & 0x7F, expiry

    def discard(self, cga):
        """Forget the CGA's key (rfc5269 3.6: forwarding for its care-of address ended)."""
        if self._keys.pop(bytes(cga), None) is not None:
            self.dirty = True

    def provisional(self, cga):
        """True when the CGA has a key that no authenticated FBU has used yet."""
        rec = self._keys.get(bytes(cga))
        return rec is not None and not rec[0] & SEQ_SET

    def _evict(self):
        # the oldest provisional key: all keys live `lifetime`, so the earliest expiry was issued first
        old, oldest = None, None
        for cga, rec in self._keys.items():
            if not rec[0] & SEQ_SET:
                e = struct.unpack_from(">I", rec, 1)[0]
                if oldest is None or e < oldest:
                    old, oldest = cga, e
        if old is None:
            return False
        del self._keys[old]
        self.evicted += 1
        self.dirty = True
        return True

    def purge(self, now):
        """Drop every expired key; returns how many."""
        gone = [c for c, rec in self._keys.items() if now >= struct.unpack_from(">BI", rec)[1]]
        for c in gone:
            del self._keys[c]
        if gone:
            self.dirty = True
        return len(gone)

    def save(self, path):
        """Seal every key into `path`: write `path`.tmp, sync it, rename it over
        `path` (atomic on POSIX and littlefs) and sync the directory, so a crash or
        a power loss leaves the old file or the new one.
        Streams record by record: no copy of the whole store in RAM."""
        nonce = backend.random_bytes(_NONCE)
        ctr = _Ctr(self._enc, nonce)
        h = backend.sha256(MAGIC + nonce)
        tmp = path + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(MAGIC + nonce)
                for cga, rec in self._keys.items():
                    ct = ctr.xor(cga + rec)
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
        naming both versions); on any refusal the store is unchanged.
        Two passes over the file: authenticate it, then decrypt records."""
        body = os.stat(path)[6] - _HEAD - _TAG
        with open(path, "rb") as f:
            head = f.read(_HEAD)
            if len(head) >= 5 and head[:4] == MAGIC[:4] and head[4] != MAGIC[4]:
                raise ParseError("key store file: format version %d, this firmware reads version %d only;"
                                 " remove the file (MNs ask for new keys)" % (head[4], MAGIC[4]))
            if body < 0 or head[:len(MAGIC)] != MAGIC:
                raise ParseError("key store file: not a sealed key store or truncated")
            h = backend.sha256(head)
            left = body
            while left:
                left -= len(_read(f, min(_CHUNK, left), h))
            digest = h.digest()
            if not hmac.equal(hmac.digest("sha256", self._mac, digest), _read(f, _TAG, None)):
                raise VerifyError("key store file: MAC mismatch (tampered, or sealed under another device key)")
            # pass 2 hashes again, so a file changed between the passes is refused too
            f.seek(_HEAD)
            h = backend.sha256(head)
            ctr = _Ctr(self._enc, head[len(MAGIC):])
            keys, left = {}, body
            n = 16 + _REC
            while left:
                rec = ctr.xor(_read(f, n, h)) if left >= n else b""  # CGA | record head
                kl = key_len(rec[16] & 0x7F) if rec else None
                if kl is None or left < n + kl:
                    raise ParseError("key store file: bad record")
                key = ctr.xor(_read(f, kl, h))
                left -= n + kl
                if now < struct.unpack_from(">I", rec, 17)[0]:
                    keys[rec[:16]] = rec[16:] + key
                    if len(keys) > self.max_entries:
                        raise ParseError("key store file: more live keys than max_entries %d" % self.max_entries)
            if h.digest() != digest:
                raise VerifyError("key store file: changed while loading")
        self._keys = keys
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
