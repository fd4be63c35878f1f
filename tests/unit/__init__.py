"""Unit tests of `chalicelib/` and `app.py` (a package so module names cannot clash with other test folders)."""
