"""Configuration: a YAML file in, frozen dataclasses out.

Contract
--------
- :mod:`~nnclf.config.settings`  every section's settings, their types, ranges and defaults
- :mod:`~nnclf.config.load`      YAML read with the safe loader, ``--set`` overrides, checked

Code above this layer never sees a raw dict of settings.
"""
