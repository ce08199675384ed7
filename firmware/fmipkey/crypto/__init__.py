# Crypto for the device: backend (primitives), der, rsa, hmac, cga, x509.
