"""Governance: the access policy, purpose of access, misuse detection and retention."""
