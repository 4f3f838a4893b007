"""The contract test modules, one per subsystem."""
