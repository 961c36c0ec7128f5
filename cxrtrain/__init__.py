"""cxrtrain: multi-label CNN training on datasets emitted by cxrlabel."""
