"""Hardware: the catalogue of parts and their YAML profiles (later: emulation, projection)."""
