"""Home: what LARNet Studio does, the loaded model's card, and links to every page."""

from __future__ import annotations

import streamlit as st

from dashboard.models import current_model, show_model_card

st.title("LARNet Studio")
st.markdown(
    "Facial **micro-expression** analysis with LARNet, a stack of residual attention networks "
    "(in the paper: Attention-92, Attention-56 and an attention EmoResNet; the bundled demo model is larnet-lite, "
    "the same stack at a quarter of the width with one attention module per level, on 112 px inputs). "
    "Micro-expressions last 1/25 to 1/2 s; this "
    "studio finds them in video, classifies them, and shows where the network looks."
)

links = st.columns(5)
with links[0]:
    st.page_link("dashboard/pages/live.py", label="Live webcam", icon=":material/videocam:")
    st.caption("Real-time face tracking, class probabilities and spotted events.")
with links[1]:
    st.page_link("dashboard/pages/clip.py", label="Analyse a clip", icon=":material/movie:")
    st.caption("Upload a video or frame archive: timeline, intervals, downloads.")
with links[2]:
    st.page_link("dashboard/pages/attention.py", label="Attention maps", icon=":material/visibility:")
    st.caption("Soft masks, hidden layers and Grad-CAM of each stage.")
with links[3]:
    st.page_link("dashboard/pages/metrics.py", label="Metrics", icon=":material/analytics:")
    st.caption("Accuracy, UF1, UAR, confusion matrix and per-class F1 of runs.")
with links[4]:
    st.page_link("dashboard/pages/sessions.py", label="Sessions", icon=":material/folder_open:")
    st.caption("Saved analyses: reopen, annotate, share, export.")

st.header("Loaded model")
loaded = current_model()
if loaded is not None:
    show_model_card(loaded)
else:
    st.caption("Pages that run the model stay unavailable until a checkpoint is loaded; /metrics and /sessions "
               "work without one.")

st.header("How it works")
st.markdown(
    "1. **Face**: each frame's face is detected and tracked (Haar cascade or MTCNN), aligned and cropped.\n"
    "2. **Classify**: LARNet turns the crop into class probabilities (with optical flow against a reference "
    "frame for models trained on flow).\n"
    "3. **Spot**: facial motion per region is tracked over time; short bursts become micro-expression "
    "intervals with onset, apex and offset.\n"
    "4. **Explain**: attention masks and Grad-CAM show which parts of the face drove the decision.\n\n"
    "Everything runs locally; nothing is uploaded anywhere. The command line (`larnet --help`) does the same "
    "work in batch: training, evaluation, clip analysis and session export."
)
