"""Use cases: short functions that take their ports as arguments."""
