"""Pure reference models of the storage contract, one module per subsystem.

Written from ``DOMAIN.md``, independent of every backend (the memory backend included):
plain data plus the rules the contract states (ordering, scoping, filters, state
machines, what each timestamp is). The state machines in ``suite/test_*_model.py`` drive
a backend and a model with the same operations and, after every step, compare the
backend's whole observable state with what the model says it must be. The model calls
the core package only for what the contract puts in core and no backend re-implements
(JSON normalisation, the version checksum, handle and slug rules).
"""
