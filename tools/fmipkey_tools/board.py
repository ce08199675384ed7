"""Talking to a MicroPython board over its serial raw REPL (mpremote's transport),
and a virtual board for tests: the unix port on a pseudo-terminal, its working
directory standing in for flash."""
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport

from fmipkey import console as fw_console

MICROPYTHON = Path(sys.executable).parent / "micropython"


@contextlib.contextmanager
def connect(port, raw=True):
    """A transport on `port`, in raw REPL unless `raw` is False (then enter_raw does it):
    no soft reset; whatever runs is interrupted (Ctrl-C), state kept."""
    try:
        transport = SerialTransport(port, baudrate=115200)
    except TransportError:
        raise click.ClickException(
            "cannot open %s: check the port name (ls /dev/ttyUSB* /dev/ttyACM*) and that no other "
            "program (mpremote, screen, minicom) holds it" % port)
    try:
        if raw:
            enter_raw(transport, port)
        yield transport
    finally:
        # A board that just reset (or a unix port that exited) has no REPL left to leave.
        with contextlib.suppress(Exception):
            transport.exit_raw_repl()
        with contextlib.suppress(Exception):
            transport.close()


def enter_raw(transport, port):
    try:
        transport.enter_raw_repl(soft_reset=False)
    except OSError as e:  # pyserial's SerialException is one: the port went away
        raise click.ClickException("lost %s while connecting (%s): is the board resetting? try again" % (port, e))
    except TransportError:
        raise click.ClickException(
            "%s answers but gives no MicroPython raw REPL after Ctrl-C: a program there may not take Ctrl-C "
            "(on the unix port, one that does not read its stdin, e.g. fmipkey.main without --console: stop "
            "or restart it); else check that the board runs MicroPython (fmipkey flash --firmware IMAGE.bin) "
            "and the baud rate is 115200" % port)


# The console while the daemon runs (fmipkey.console.Requests on the board).
REQUEST, ANSWER, PROMPT = fw_console.REQUEST.encode(), fw_console.ANSWER.encode(), b"\n>>> "


def ask_daemon(transport, port, fn, args, timeout=5.0):
    """Ask a daemon that serves the console (fmipkey.main --console) without stopping it:
    its JSON answer, or None when an idle REPL prompt answers instead (no daemon runs there)."""
    ser = transport.serial
    ser.reset_input_buffer()
    # a \r first ends whatever bytes the line had (at a REPL: one more prompt)
    ser.write(b"\r" + REQUEST + json.dumps({"fn": fn, "args": list(args)}).encode() + b"\r")
    seen, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = ser.in_waiting
        if not waiting:
            time.sleep(0.02)
            continue
        seen += ser.read(waiting).replace(b"\r", b"")
        for line in seen.split(b"\n")[:-1]:
            if line.startswith(ANSWER):
                try:
                    return json.loads(line[len(ANSWER):])
                except ValueError:
                    raise click.ClickException("the daemon on %s gave a damaged answer: %r" % (port, line[:200]))
        if PROMPT in seen:
            return None
    raise click.ClickException(
        "%s answered neither as a fmipkey daemon serving its console (fmipkey.main --console) nor with a "
        "MicroPython prompt within %.0f s: if the daemon is busy, try again; --interrupt stops whatever runs "
        "there to reach the REPL" % (port, timeout))


def run(transport, code, timeout=30):
    """Execute `code` on the board; return its stdout. A board-side exception becomes a ClickException."""
    try:
        out, err = transport.exec_raw(code, timeout=timeout)
    except (TransportError, OSError) as e:
        raise click.ClickException("the board stopped answering (%s): reset it and try again" % e)
    if err:
        lines = err.decode(errors="replace").strip().splitlines()
        raise click.ClickException("the board raised %s" % (lines[-1] if lines else "an error"))
    return out.decode(errors="replace")


def run_json(transport, code, timeout=30):
    """Execute `code`, which prints one line of JSON last; return it decoded."""
    out = run(transport, code, timeout)
    lines = [line for line in out.splitlines() if line.strip()]
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        raise click.ClickException("the board printed no JSON answer: %r" % out[-200:])


@contextlib.contextmanager
def virtual_board(flash_dir, args=(), wrap=()):
    """Yield the path of a pty on which the MicroPython unix port runs as a serial board.

    Its working directory is `flash_dir` (the flash), which is also on MICROPYPATH
    so `import fmipkey` loads what was flashed. `args` go to micropython, e.g.
    ("-X", "heapsize=110000") to give it an ESP32's heap; `wrap` comes before it, e.g.
    ("ip", "netns", "exec", NS) to put the board on a simulated link. The process is gone on exit.
    """
    if not shutil.which("socat"):
        raise click.ClickException("socat is not installed: apt-get install socat")
    flash_dir = Path(flash_dir).resolve()
    flash_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="fmipkey-board-"))
    tty = tmp / "tty"
    # raw,echo=0 on both ends: the raw REPL protocol needs the bytes unchanged (no \n -> \r\n).
    command = " ".join(list(wrap) + [str(MICROPYTHON)] + list(args))
    env = dict(os.environ, MICROPYPATH=".frozen:%s" % flash_dir)
    log = tmp / "socat.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            ["socat", "PTY,link=%s,raw,echo=0" % tty, "EXEC:%s,pty,raw,echo=0,stderr,setsid,ctty" % command],
            cwd=str(flash_dir), env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 10
        while not tty.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise click.ClickException("socat did not start the virtual board: %s"
                                           % log.read_text(errors="replace").strip())
            time.sleep(0.02)
        yield str(tty)
    finally:
        # Ending socat ends micropython (its session on the pty is hung up).
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


# ---- `fmipkey board`: the virtual board as a command -----------------------

@click.group("board")
def cli():
    """A virtual board (the unix port on a pty) to try flash and console without hardware."""


@cli.command()
@click.option("--flash", "flash_dir", default="build/virtual-board", show_default=True,
              type=click.Path(file_okay=False), help="Directory standing in for the board's flash (kept).")
@click.option("--heap", type=int, help="Heap in bytes, e.g. 110000 for an ESP32's (micropython -X heapsize).")
def virtual(flash_dir, heap):
    """Run a virtual board until Ctrl-C: prints its port for `fmipkey flash` and `fmipkey console`."""
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a kill ends the board too (the context exits)
    with virtual_board(flash_dir, ("-X", "heapsize=%d" % heap) if heap else ()) as tty:
        click.echo(tty)
        click.echo("virtual board on %s (flash: %s); try\n  fmipkey flash --port %s --bundle BUNDLE\n"
                   "  fmipkey console --port %s status\nCtrl-C ends it" % (tty, flash_dir, tty, tty), err=True)
        try:
            while os.path.exists(tty):  # gone when micropython exits (console reboot)
                time.sleep(0.2)
        except KeyboardInterrupt:
            return
    click.echo("the virtual board exited (reboot): run the command again to start it", err=True)
