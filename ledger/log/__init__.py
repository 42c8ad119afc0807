"""The verifiable log, knowing no domain: canonical encoding, statements, the RFC 9162 tree, signed checkpoints."""
