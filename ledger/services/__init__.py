"""The services the edges call: log reading and proofs, event intake, keys, anchoring, documents, audit."""
