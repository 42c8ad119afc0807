"""Cryptographic primitives: Ed25519 keys and signatures, payload sealing."""
