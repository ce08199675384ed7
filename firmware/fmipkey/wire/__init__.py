# Packet codecs: bytes <-> records, no I/O and no crypto. Parsers raise only ParseError.
