"""cxrlabel: chest X-ray report mining into per-finding labels with evidence."""

__version__ = "0.1.0"
