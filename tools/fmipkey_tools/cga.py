"""`fmipkey cga`: find CGA modifiers (RFC 3972 section 4) on the host and verify
CGAs with the firmware's own verifier."""
import ipaddress
import json
import os
import time
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from fmipkey.crypto import cga
from fmipkey.errors import ParseError, VerifyError
from fmipkey_tools import cgasearch, private

MIN_BITS, MAX_BITS = 1024, 2048
CHECKPOINT_EVERY = 5.0  # seconds
CONFIRM_ABOVE = 3600.0  # s: a longer expected search starts only with --yes
ESTIMATE_FROM = 1 << 32  # hashes: below this (Sec 0 and 1) a search takes seconds, no estimate needed


def parse_prefix(text):
    """A /64 subnet prefix ('2001:db8::/64' or '2001:db8::') as 8 octets."""
    try:
        net = ipaddress.IPv6Network(text if "/" in text else text + "/64", strict=True)
    except ValueError as e:
        raise click.UsageError("bad subnet prefix %r: %s (give an IPv6 /64, e.g. 2001:db8:1::/64)" % (text, e))
    if net.prefixlen != 64:
        raise click.UsageError("subnet prefix %s is /%d; a CGA needs a /64" % (text, net.prefixlen))
    return net.network_address.packed[:8]


def parse_ext(text):
    try:
        ext = bytes.fromhex(text or "")
    except ValueError:
        raise click.UsageError("--ext must be hex (RFC 4581 TLVs: 2-octet type, 2-octet length, value)")
    try:
        cga.parse(cga.encode(bytes(16), bytes(8), 0, b"\x30\x00", ext))  # any DER TLV stands in for the key
    except ParseError as e:
        raise click.UsageError("--ext is not a list of RFC 4581 extension fields: %s" % e.args[0])
    return ext


def load_key(path):
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except FileNotFoundError:
        raise click.UsageError("key file %s does not exist" % path)
    except (ValueError, TypeError) as e:
        raise click.UsageError("cannot read %s as an unencrypted PEM private key: %s" % (path, e))
    if not isinstance(key, rsa.RSAPrivateKey):
        raise click.UsageError("%s is not an RSA key; SEND CGAs use RSA" % path)
    if not MIN_BITS <= key.key_size <= MAX_BITS:
        raise click.UsageError("%s is a %d-bit key; use %d to %d bits" % (path, key.key_size, MIN_BITS, MAX_BITS))
    return key


def key_for(out, key_path, bits):
    """(key, path, new): the given key, else the one kept beside `out`, else a new one
    (new: True) that `save_new_key` writes there once the search is sure to start."""
    if key_path:
        return load_key(key_path), Path(key_path), False
    path = Path(str(out) + ".key.pem")
    if path.exists():
        return load_key(path), path, False
    if not MIN_BITS <= bits <= MAX_BITS:
        raise click.UsageError("--bits %d: use %d to %d" % (bits, MIN_BITS, MAX_BITS))
    return rsa.generate_private_key(65537, bits), path, True


def save_new_key(device):
    """Write a device's new key 0600 (fmipkey_tools.private): before the search, as a checkpoint is for it."""
    if device.new_key is None:
        return
    device.key_path.parent.mkdir(parents=True, exist_ok=True)
    private.write(device.key_path, device.new_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    device.new_key = None


def spki_of(key):
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class Device:
    """One CGA to make: where it goes, its key, prefix and search job."""

    def __init__(self, name, out, key, key_path, prefix, sec, ext, new=False):
        self.name, self.out, self.key_path, self.prefix = name, Path(out), key_path, prefix
        self.new_key = key if new else None  # written by save_new_key
        self.job = cgasearch.Job(spki_of(key), sec, ext)

    def write(self, modifier):
        params = cga.encode(modifier, self.prefix, 0, self.job.spki, self.job.ext)
        addr = cga.address(params, self.job.sec)
        assert cga.verify(addr, params) == self.job.sec  # the firmware's check, before anything is written
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_bytes(params)
        text = str(ipaddress.IPv6Address(addr))
        Path(str(self.out) + ".json").write_text(json.dumps(
            {"address": text, "sec": self.job.sec, "collision_count": 0, "params": str(self.out),
             "key": str(self.key_path)}, indent=2) + "\n")
        return text


def load_fleet(path, out_dir):
    try:
        entries = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise click.UsageError("fleet file %s does not exist" % path)
    except ValueError as e:
        raise click.UsageError("fleet file %s is not JSON: %s" % (path, e))
    if not isinstance(entries, list) or not entries:
        raise click.UsageError("fleet file %s must be a JSON list of devices "
                               '({"name", "prefix", "sec", and "key" or "bits"})' % path)
    devices, base = [], Path(path).parent
    for n, d in enumerate(entries):
        if not isinstance(d, dict) or "name" not in d or "prefix" not in d:
            raise click.UsageError("fleet entry %d needs at least \"name\" and \"prefix\"" % n)
        name = str(d["name"])
        if name in (x.name for x in devices) or "/" in name:
            raise click.UsageError("fleet entry %d: name %r is repeated or contains '/'" % (n, name))
        out = Path(out_dir) / (name + ".cga")
        key, key_path, new = key_for(out, base / d["key"] if "key" in d else None, _int(d, "bits", MIN_BITS, n))
        devices.append(Device(name, out, key, key_path, parse_prefix(d["prefix"]), check_sec(_int(d, "sec", 1, n)),
                              parse_ext(d.get("ext", "")), new))
    return devices


def _int(entry, field, default, n):
    v = entry.get(field, default)
    if type(v) is not int:
        raise click.UsageError('fleet entry %d: "%s" must be a number, e.g. "%s": %d; got %s'
                               % (n, field, field, default, json.dumps(v)))
    return v


def check_sec(sec):
    if not 0 <= sec <= 3:
        raise click.UsageError("Sec %d: this tool searches Sec 0 to 3 (Sec 3 is already ~2^48 hashes)" % sec)
    return sec


# ---- checkpoint: the job bases and the ranges already searched ----------

def load_checkpoint(path, devices):
    """Resume: reuse each job's base and searched ranges when the checkpoint matches it."""
    if not path.exists():
        return {}
    try:
        saved = json.loads(path.read_text())["jobs"]
    except (ValueError, KeyError) as e:
        raise click.ClickException("checkpoint %s is unreadable (%s); delete it to start afresh" % (path, e))
    done = {}
    for d in devices:
        s = saved.get(d.name)
        if s is None:
            continue
        try:
            same = (s["spki"], s["sec"], s["ext"]) == (d.job.spki.hex(), d.job.sec, d.job.ext.hex())
            base, ranges = bytes.fromhex(s["base"]), [[int(a), int(b)] for a, b in s["done"]]
        except (KeyError, TypeError, ValueError) as e:
            raise click.ClickException("checkpoint %s: the entry for %s is damaged (%s: %s); delete the "
                                       "checkpoint to start afresh" % (path, d.name, type(e).__name__, e))
        if not same:
            raise click.ClickException("checkpoint %s was written for another key, Sec or --ext of %s; "
                                       "delete it to start afresh" % (path, d.name))
        d.job.base, done[d.name] = base, ranges
    return done


def save_checkpoint(path, devices, search):
    jobs = {d.name: {"spki": d.job.spki.hex(), "sec": d.job.sec, "ext": d.job.ext.hex(), "base": d.job.base.hex(),
                     "done": search.done[d.name]} for d in devices if d.name not in search.found}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"jobs": jobs}))
    tmp.replace(path)


def run_search(devices, workers, scheduler, engine, checkpoint):
    done = load_checkpoint(checkpoint, devices)
    search = cgasearch.Search({d.name: d.job for d in devices}, engine, done)
    resumed = sum(e - s for r in done.values() for s, e in r)
    expected = expected_trials(devices)
    err = Console(stderr=True)
    if done:
        click.echo("resuming from %s: %d trials already searched of ~%.3g expected" % (checkpoint, resumed, expected),
                   err=True)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed:.3g} of ~{task.total:.3g} trials"),
               TextColumn("{task.fields[rate]}"), TextColumn("ETA"), TimeRemainingColumn())
    start, last_save = time.monotonic(), [time.monotonic()]
    with Progress(*columns, console=err, transient=True) as progress:
        # the bar starts where the checkpoint left off; the rate counts this run's trials only
        task = progress.add_task("CGA search", total=max(expected, resumed + 1), completed=resumed, rate="")

        def on_progress(n):
            now = time.monotonic()
            progress.update(task, advance=n, rate="%.2f M/s" % (search.trials / 1e6 / max(now - start, 1e-9)))
            if now - last_save[0] > CHECKPOINT_EVERY:
                save_checkpoint(checkpoint, devices, search)
                last_save[0] = now

        try:
            if scheduler:
                found = run_on_dask(search, scheduler, on_progress)
            else:
                with cgasearch.local_executor(workers, engine) as ex, cgasearch.interruptible() as stop:
                    found = search.run(ex, 2 * workers, on_progress, stop)
        except KeyboardInterrupt:
            save_checkpoint(checkpoint, devices, search)
            raise click.ClickException("interrupted after %d trials; run the same command again to resume "
                                       "from %s" % (resumed + search.trials, checkpoint))
        except cgasearch.EngineError as e:  # its searched ranges are not to be trusted: no checkpoint
            raise click.ClickException("%s; nothing was written. Run again with --engine hashlib, and please "
                                       "report this" % e)
    if checkpoint.exists():
        checkpoint.unlink()
    rate = search.trials / max(time.monotonic() - start, 1e-9)
    return found, search.trials, rate


def expected_trials(devices):
    return sum(1 << 16 * d.job.sec for d in devices if d.job.sec)


def measured_rate(engine, job, workers, seconds=0.3):
    """Trials per second of `workers` local processes, from one of them timed on `job` here."""
    if engine == "numba":
        cgasearch.numba_kernel()  # compile (or load) outside the timing
    count, elapsed = 1 << 14, 0.0
    while elapsed < seconds:
        count *= 2
        t = time.perf_counter()
        cgasearch.scan(engine, job, 0, count)
        elapsed = time.perf_counter() - t
    return count / elapsed * min(workers, os.cpu_count() or 1)


def confirm_long_search(devices, workers, engine, scheduler, yes):
    """Print the expected work and time of a Sec 2+ search; above CONFIRM_ABOVE, go on only with --yes."""
    expected = expected_trials(devices)
    if expected < ESTIMATE_FROM:
        return
    rate = measured_rate(engine, max(devices, key=lambda d: d.job.sec).job, workers)
    eta = expected / rate
    where = "on %d local worker%s" % (workers, "s" if workers > 1 else "")
    if scheduler:
        where = "on this machine (the cluster is faster by its cores / %d)" % min(workers, os.cpu_count() or 1)
    text = "expected ~%.3g hashes; at %.3g M/s measured %s: about %s" % (expected, rate / 1e6, where, duration(eta))
    click.echo(text, err=True)
    if eta > CONFIRM_ABOVE and not yes:
        raise click.UsageError("this search would take about %s; add --yes to start it (Ctrl-C saves a checkpoint "
                               "and the same command resumes), or give a smaller --sec, or add machines with "
                               "--scheduler" % duration(eta))


def duration(seconds):
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return "%.0f %s" % (seconds / size, unit)
    return "%.0f seconds" % seconds


WORKERS = ("`dask worker ADDRESS --nthreads N` on each machine (N = its cores: the numba engine releases "
           "the GIL, so each thread of a worker uses a core)")


def run_on_dask(search, address, on_progress):
    from dask.distributed import Client
    try:
        client = Client(address, timeout=5)
    except (OSError, TimeoutError) as e:
        raise click.ClickException("cannot reach the Dask scheduler at %s: %s (start one with `dask scheduler`, "
                                   "then %s)" % (address, e, WORKERS))
    with client:
        try:
            client.wait_for_workers(1, timeout=30)
        except TimeoutError:
            raise click.ClickException("the Dask scheduler at %s has no workers after 30 s; start %s"
                                       % (address, WORKERS))
        with cgasearch.interruptible() as stop:
            return search.run(cgasearch.dask_executor(client), cluster_slots(client), on_progress, stop)


def cluster_slots(client, every=2.0):
    """Tasks to keep in flight: two per thread of every worker (one runs, one waits), so all
    threads of all workers are busy; re-read every few seconds, as workers may join later."""
    last = [float("-inf"), 2]

    def slots():
        now = time.monotonic()
        if now - last[0] > every:
            last[:] = [now, 2 * max(1, sum(client.nthreads().values()))]
        return last[1]
    return slots


@click.group()
def cli():
    """Generate (modifier search) and verify Cryptographically Generated Addresses (RFC 3972)."""


@cli.command()
@click.option("--sec", type=int, default=None, help="Security parameter Sec, 0..3 (expected work 2^(16*Sec) hashes).")
@click.option("--prefix", help="The subnet prefix, an IPv6 /64.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=True),
              help="CGA Parameters file (DER) to write; with --fleet, a directory.")
@click.option("--key", "key_path", type=click.Path(dir_okay=False), help="RSA private key (PEM); default: FILE.key.pem, made if missing.")
@click.option("--bits", type=int, default=1024, show_default=True, help="Size of a new RSA key (1024..2048).")
@click.option("--ext", default="", help="Extension fields (RFC 4581), hex.")
@click.option("--workers", type=int, default=os.cpu_count(), show_default=True, help="Local worker processes.")
@click.option("--scheduler", help="Search on a Dask cluster at this scheduler address (tcp://host:8786).")
@click.option("--fleet", type=click.Path(dir_okay=False), help='JSON list of devices ({"name","prefix","sec","key" or "bits"}): one job for all.')
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="Resume file for the searched ranges (default: FILE.checkpoint.json).")
@click.option("--engine", type=click.Choice(cgasearch.available_engines()), default=cgasearch.available_engines()[0],
              show_default=True, help="numba: multi-lane SHA-1; hashlib: the plain fallback.")
@click.option("--force", is_flag=True, help="Replace an existing --out (its address changes).")
@click.option("--yes", is_flag=True, help="Start a search estimated at more than an hour without asking.")
def gen(sec, prefix, out, key_path, bits, ext, workers, scheduler, fleet, checkpoint, engine, force, yes):
    """Find a modifier for Sec, write the CGA Parameters (DER) and print the address.

    The search runs on every local core, or on a Dask cluster with --scheduler.
    Ctrl-C saves the searched ranges; the same command resumes."""
    if workers < 1:
        raise click.UsageError("--workers must be at least 1")
    if fleet:
        if sec is not None or prefix or key_path or ext:
            raise click.UsageError("with --fleet, give --sec, --prefix, --key and --ext per device in the fleet file")
        devices = load_fleet(fleet, out)
        cp = Path(checkpoint or Path(out) / "fleet.checkpoint.json")
    else:
        if prefix is None or sec is None:
            raise click.UsageError("give --sec and --prefix (or --fleet FILE)")
        if Path(out).is_dir():
            raise click.UsageError("--out %s is a directory; give the parameters file to write" % out)
        pfx, ext_b, sec = parse_prefix(prefix), parse_ext(ext), check_sec(sec)
        key, kp, new = key_for(out, key_path, bits)
        devices = [Device(Path(out).name, out, key, kp, pfx, sec, ext_b, new)]
        cp = Path(checkpoint or str(out) + ".checkpoint.json")
    there = [str(d.out) for d in devices if d.out.exists()]
    if there and not force:
        # the address is what routers, certificates and DNS know a node by
        raise click.UsageError("%s already exist%s; use another --out, or --force to replace %s (the address "
                               "changes)" % (", ".join(there), "s" if len(there) == 1 else "",
                                             "it" if len(there) == 1 else "them"))
    confirm_long_search(devices, workers, engine, scheduler, yes)
    for d in devices:
        save_new_key(d)
    found, trials, rate = run_search(devices, workers, scheduler, engine, cp)
    for d in devices:
        addr = d.write(found[d.name])
        click.echo("%s  %s  Sec=%d  %s" % (d.name, addr, d.job.sec, d.out) if fleet else addr)
    click.echo("%d trials, %.3g trials/s" % (trials, rate), err=True)


@cli.command()
@click.option("--params", required=True, type=click.Path(dir_okay=False), help="CGA Parameters file (DER).")
@click.option("--addr", required=True, help="The IPv6 address to check.")
def verify(params, addr):
    """Check ADDR against the CGA Parameters with the firmware's verifier; exit 0 only if it verifies."""
    try:
        a = ipaddress.IPv6Address(addr.split("%")[0]).packed
    except ValueError:
        raise click.UsageError("--addr %r is not an IPv6 address" % addr)
    try:
        buf = Path(params).read_bytes()
    except FileNotFoundError:
        raise click.UsageError("parameters file %s does not exist" % params)
    try:
        cga.parse(buf)
    except ParseError as e:
        raise click.UsageError("%s is not DER CGA Parameters (fmipkey cga gen writes them): %s"
                               % (params, e.args[0]))
    try:
        sec = cga.verify(a, buf)
    except VerifyError as e:
        raise click.ClickException("%s does not verify: %s" % (addr, e.args[0]))
    click.echo("ok: %s is a CGA of these parameters, Sec=%d" % (addr, sec))
