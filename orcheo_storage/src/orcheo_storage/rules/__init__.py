"""Pure domain rules shared by every backend. Backends own persistence and atomicity only."""
