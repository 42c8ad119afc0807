"""Policies: new business, underwriting and the policy lifecycle."""
