"""Built-in profiles: one TOML file each (package data, read with importlib.resources)."""
