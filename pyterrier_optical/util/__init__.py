"""Layer 0: helpers every other layer may use (the cache folder, atomic writes, torch devices)."""
