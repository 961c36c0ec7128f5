"""Data package: vocabularies, rules, templates and label sets for cxrlabel (no code)."""
