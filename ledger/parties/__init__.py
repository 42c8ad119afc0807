"""Parties: the people and organisations the ledger knows, and the checks and masking of their personal data."""
