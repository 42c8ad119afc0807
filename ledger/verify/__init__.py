"""Evidence bundles (``bundle``) and their verification offline (``offline``, a standalone script)."""
