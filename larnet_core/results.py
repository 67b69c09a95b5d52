"""Older import path of the result type and its column names: everything lives in :mod:`larnet_core.result`."""

from larnet_core.result import *  # noqa: F401,F403 - a re-export for imports written before the package existed
from larnet_core.result import __all__ as _names
from larnet_core.result.provenance import model_provenance as model_info  # the builder's former name

__all__ = [*_names, "model_info"]
