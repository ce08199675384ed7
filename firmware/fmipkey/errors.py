# The error types every firmware module raises; args[0] is a short reason string.


class ParseError(Exception):
    """Bytes that cannot be decoded: short, truncated, inconsistent (packets, options, DER, PEM)."""


class VerifyError(Exception):
    """Well-formed input that fails a security check (CGA, signature, timestamp, nonce, path, MAC)."""


class CryptoError(Exception):
    """A crypto operation refused its input; decryption failures all carry the same reason."""


class ConfigError(Exception):
    """A configuration value is missing or out of range; the reason says how to fix it."""
