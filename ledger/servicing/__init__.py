"""Servicing (保全): the catalog of operations a customer can request on a policy, and the requests themselves."""
