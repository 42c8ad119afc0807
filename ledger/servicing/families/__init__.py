"""The operation families of the servicing catalog, one module each (registered in ``ledger.servicing.registry``)."""
