"""LARNet Studio engine: models, data, face pipeline, video, explainability, metrics, sessions and the CLI.

Importing this package is cheap and never imports Streamlit, plotly or CUDA; submodules are imported on use.
"""

__version__ = "0.1.0"

from larnet_core.errors import LarnetError

__all__ = ["LarnetError", "__version__"]
