"""`cxrlabel review`: one self-contained HTML page to review a `cxrlabel mine` run (optionally against a gold)."""
