"""LARNet Studio dashboard: Streamlit pages and thin UI helpers over ``larnet_core``.

Every computation lives in ``larnet_core``; this package only lays out widgets, charts and downloads.
``streamlit_app.py`` at the repository root wires the pages into one navigation.
"""

__all__: list[str] = []
