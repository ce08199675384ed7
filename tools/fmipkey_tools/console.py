"""`fmipkey console`: status, counters, keys and configuration of a board, by
calling fmipkey.console on it over the raw REPL (each call prints one JSON line)."""
import json

import click
from mpremote.transport import TransportError
from rich.console import Console
from rich.table import Table

from fmipkey_tools import board

json_option = click.option("--json", "as_json", is_flag=True, help="Print the board's JSON answer as is.")


def call(obj, fn, *args):
    """fmipkey.console.<fn>(*args) on the board: asked of its daemon while one serves the console
    (it keeps running), else run at the REPL. Its JSON answer, or a ClickException with its error."""
    port, interrupt = obj
    # Checked here, not with required=True on the group, so `console SUBCOMMAND --help` needs no port.
    if not port:
        raise click.UsageError("missing --port: give the board's serial port, e.g. --port /dev/ttyUSB0")
    code = "import fmipkey.console\nfmipkey.console.%s(%s)" % (fn, ", ".join(repr(a) for a in args))
    with board.connect(port, raw=interrupt) as t:
        answer = None if interrupt else board.ask_daemon(t, port, fn, args)
        if answer is None:  # the REPL is free: no daemon holds the console
            if not interrupt:
                board.enter_raw(t, port)
            if fn == "reboot":  # no waiting for an answer: the board may reset before it finishes one
                try:
                    t.exec_raw_no_follow(code)
                except TransportError as e:
                    raise click.ClickException("the board did not take the reboot command (%s)" % e)
                return {"reboot": True}
            answer = board.run_json(t, code)
    if isinstance(answer, dict) and "error" in answer:
        raise click.ClickException(answer["error"])
    return answer


def show(answer, as_json, table):
    if as_json:
        click.echo(json.dumps(answer))
    else:
        Console().print(table)


def pairs_table(title, rows, headers=("name", "value")):
    table = Table(title=title)
    for h in headers:
        table.add_column(h)
    for row in rows:
        table.add_row(*[str(v) for v in row])
    return table


@click.group("console")
@click.option("--port", envvar="FMIPKEY_PORT",
              help="Serial port of the board (or $FMIPKEY_PORT), e.g. /dev/ttyUSB0.  [required]")
@click.option("--interrupt", is_flag=True,
              help="Stop whatever runs on the board (Ctrl-C) and use its REPL, even a daemon that would answer.")
@click.pass_context
def cli(ctx, port, interrupt):
    """Talk to fmipkey on a board over its serial port.

    A daemon started with --console (the ESP32 board's main.py) answers itself and keeps
    running; at an idle REPL the call runs there. Nothing is interrupted unless --interrupt."""
    ctx.obj = (port, interrupt)


@cli.command()
@json_option
@click.pass_obj
def status(port, as_json):
    """Role, CGA, whether the daemon runs, certificate expiry, keys stored, drops, link, settings."""
    answer = call(port, "status")
    rows = [(k, ", ".join("%s %s" % kv for kv in sorted(v.items())) or "none" if isinstance(v, dict) else v)
            for k, v in sorted(answer.items())]
    show(answer, as_json, pairs_table("status", rows))


@cli.command()
@json_option
@click.pass_obj
def counters(port, as_json):
    """Counters the daemon last wrote (received, dropped.<reason>, keys.issued, ...)."""
    answer = call(port, "counters")
    show(answer, as_json, pairs_table("counters", sorted(answer["counters"].items())))


@cli.command()
@json_option
@click.pass_obj
def keys(port, as_json):
    """Handover keys held: the mobile node's CGA, AT and remaining lifetime (never key bytes)."""
    answer = call(port, "keys")
    rows = [(k["cga"], k["at"], k["remaining"]) for k in answer["keys"]]
    show(answer, as_json, pairs_table("%d handover keys" % len(rows), rows, ("cga", "at", "remaining s")))


@cli.command()
@click.argument("name")
@json_option
@click.pass_obj
def get(port, name, as_json):
    """Show one configuration value (the staged one if `set` changed it)."""
    answer = call(port, "get", name)
    if as_json:
        click.echo(json.dumps(answer))
    else:
        click.echo("%s = %s%s" % (name, json.dumps(answer["value"]),
                                  "  (staged, not saved)" if answer["pending"] else ""))
        click.echo("  " + answer["help"])


# ignore_unknown_options: a VALUE such as -5 is the board's to judge, not an option click does not know.
@cli.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("value")
@json_option
@click.pass_obj
def set_(port, name, value, as_json):
    """Stage a configuration value (JSON, or a bare word); `save` writes config.json."""
    answer = call(port, "set", name, value)
    if as_json:
        click.echo(json.dumps(answer))
    else:
        click.echo("%s = %s staged; `fmipkey console save` writes it to config.json"
                   % (name, json.dumps(answer["value"])))


@cli.command()
@json_option
@click.pass_obj
def save(port, as_json):
    """Validate the staged values and write config.json atomically (applies after reboot)."""
    answer = call(port, "save")
    if as_json:
        click.echo(json.dumps(answer))
    elif answer["changed"]:
        click.echo("saved %s: %s changed; reboot to apply" % (answer["saved"], ", ".join(answer["changed"])))
    else:
        click.echo("nothing staged; %s unchanged" % answer["saved"])


@cli.command()
@json_option
@click.pass_obj
def reboot(port, as_json):
    """Reset the board (machine.reset(); the unix port exits for its service manager to restart)."""
    answer = call(port, "reboot")
    click.echo(json.dumps(answer) if as_json else "rebooting")
