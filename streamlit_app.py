"""LARNet Studio dashboard entry point: logging, the sidebar model picker and the page navigation.

Run with ``make run`` (``streamlit run streamlit_app.py``). The pages live in ``dashboard/pages``.
"""

from __future__ import annotations

import logging

import streamlit as st

from dashboard.models import model_sidebar

PAGES = [
    st.Page("dashboard/pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("dashboard/pages/live.py", title="Live", icon=":material/videocam:", url_path="live"),
    st.Page("dashboard/pages/clip.py", title="Clip", icon=":material/movie:", url_path="clip"),
    st.Page("dashboard/pages/attention.py", title="Attention", icon=":material/visibility:", url_path="attention"),
    st.Page("dashboard/pages/metrics.py", title="Metrics", icon=":material/analytics:", url_path="metrics"),
    st.Page("dashboard/pages/batch.py", title="Batch", icon=":material/table_view:", url_path="batch"),
    st.Page("dashboard/pages/sessions.py", title="Sessions", icon=":material/folder_open:", url_path="sessions"),
]


@st.cache_resource
def _configure_logging() -> None:
    # Once per process: Streamlit re-runs this script on every interaction.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("larnet_core").setLevel(logging.INFO)
    logging.getLogger("dashboard").setLevel(logging.INFO)


_configure_logging()
st.set_page_config(page_title="LARNet Studio", page_icon=":material/face:", layout="wide")
navigation = st.navigation(PAGES)
model_sidebar()
navigation.run()
