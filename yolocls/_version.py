"""The package version, in a module of its own: the leaf packages (yolocls.spec) read it without importing
``yolocls/__init__.py``, whose functions reach the models."""

__version__ = "0.1.0"
