# The error types every firmware module raises: args[0] is a reason for people (logs, CLI),
# `code` a short stable name for programs (counters, decisions); never match on the text.


class ParseError(Exception):
    """Bytes that cannot be decoded: short, truncated, inconsistent (packets, options, DER, PEM)."""

    def __init__(self, text, code="malformed"):
        super().__init__(text)
        self.code = code


class VerifyError(Exception):
    """Well-formed input that fails a security check (CGA, signature, timestamp, nonce, path, MAC)."""

    def __init__(self, text, code="invalid"):
        super().__init__(text)
        self.code = code


class CryptoError(Exception):
    """A crypto operation refused its input; decryption failures all carry the same reason."""


class ConfigError(Exception):
    """A configuration value is missing or out of range; the reason says how to fix it."""
