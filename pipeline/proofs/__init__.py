"""PDF proofs for clients (issue #15): a contact sheet per profile, a full page per asset.

`cards` reads what a proof shows from the store (the pictures the workers made, facts, warnings,
review state); `pdf` renders the templates of site_templates/proofs/ with WeasyPrint and makes
print proofs PDF/X-4; `build` decides what is stale and writes out/proofs/. docs/proofs.md.
"""
