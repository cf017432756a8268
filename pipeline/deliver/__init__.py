"""Delivery to channels (#16): channel presets (channels), making and checking each file
against the platform's limits (make), packages, manifests and where they go next (package)."""
