"""One module per figure kind; its name is the kind (figures/__init__.py)."""
