"""Attention: the soft masks, hidden layers and Grad-CAM of each LARNet stage for one face, and the mean
absolute response of every attention module (the paper's Figs. 3-7)."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import streamlit as st

from dashboard import charts, config
from dashboard.models import current_model, model_ref, synthetic_notice
from dashboard.sessions_ui import save_to_session
from larnet_core.errors import LarnetError

SOURCES = ("Frame of the current clip", "Bundled sample", "Upload an image", "Webcam snapshot")
HIDDEN_MAPS = 16
_CACHE_KEY = "attention_cache"


def _decode(data: bytes, what: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise LarnetError(f"{what} is not an image OpenCV can read; upload a PNG or JPEG")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@st.cache_data(max_entries=8, show_spinner=False)
def _sample_frame(path: str, index: int) -> np.ndarray:
    from larnet_core.video import frame_at

    return frame_at(path, index)


def _pick_image() -> tuple[np.ndarray | None, str]:
    """The photo or frame to explain, and how to name it."""
    clip = st.session_state.get("clip_result")
    available = [s for s in SOURCES if s != SOURCES[0] or clip is not None]
    source = st.radio("Face from", available, horizontal=True, key="attention_source")
    if source == SOURCES[0]:
        index = int(st.session_state.get("clip_frame", 0))
        if clip.data is None:
            st.info("The current clip's frames are not available.")
            return None, ""
        from larnet_core.video import frame_at

        return frame_at(clip.data, index), f"{clip.name} frame {index}"
    if source == SOURCES[1]:
        from larnet_core.face import sample_face_photos

        samples = {p.name: p for p in config.sample_clips()}
        photos = sample_face_photos()
        names = list(photos) + list(samples)
        if not names:
            st.info("No sample is bundled; upload an image instead.")
            return None, ""
        name = st.selectbox("Sample", names, key="attention_sample")
        if name in photos:
            return photos[name], name
        return _sample_frame(str(samples[name]), 0), f"{name} frame 0"
    if source == SOURCES[2]:
        upload = st.file_uploader("Face photo (PNG or JPEG)", type=["png", "jpg", "jpeg", "bmp"],
                                  key="attention_upload")
        return (_decode(upload.getvalue(), upload.name), upload.name) if upload is not None else (None, "")
    snapshot = st.camera_input("Webcam snapshot", key="attention_camera")
    return (_decode(snapshot.getvalue(), "the snapshot"), "webcam snapshot") if snapshot is not None else (None, "")


def _explain(loaded, image: np.ndarray, face_mode: str, method: str, target: str | None):
    """Crop the face and compute every map once per (image, options); kept for this browser session."""
    from larnet_core.explain import explainer_for, face_crop, mean_absolute_response

    digest = hashlib.sha256(image.tobytes()).hexdigest()
    key = (digest, image.shape, face_mode, method, target, loaded.sha256)
    cached = st.session_state.get(_CACHE_KEY)
    if cached is not None and cached[0] == key:
        return cached[1]
    crop, _ = face_crop(image, face=face_mode, size=max(224, loaded.card.input_size))
    explainer = explainer_for(loaded)
    explanation = explainer.explain(crop, target_class=target, methods=(method,), k=HIDDEN_MAPS)
    responses = mean_absolute_response(explainer, [crop])
    st.session_state[_CACHE_KEY] = (key, (explanation, responses))
    return explanation, responses


def _png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise LarnetError("could not encode an image as PNG")
    return encoded.tobytes()


def _stage_tab(explanation, stage: str) -> None:
    masks = [m for m in explanation.masks if m.stage == stage]
    st.markdown(f"**Soft masks M(x)** of the {len(masks)} attention module(s): bright = kept, dark = suppressed.")
    if masks:
        columns = st.columns(min(4, len(masks)))
        for index, mask in enumerate(masks):
            columns[index % len(columns)].image(mask.overlay(explanation.image), width="stretch",
                                                caption=f"{mask.module} ({mask.resolution[0]}x{mask.resolution[1]})")
    left, right = st.columns(2)
    hidden = [h for h in explanation.hidden if h.stage == stage]
    with left:
        st.markdown("**Hidden layers**: the most active feature maps of the stage output")
        for grid in hidden:
            st.image(grid.grid, width="stretch", caption=f"channels {', '.join(map(str, grid.channels[:8]))}...")
    cams = [c for c in explanation.cams if c.stage == stage]
    with right:
        st.markdown("**Class activation map**")
        for cam in cams:
            st.image(cam.overlay, width="stretch",
                     caption=f"{cam.method} for {cam.target_label} (p={cam.score:.2f}), "
                             f"{cam.resolution[0]}x{cam.resolution[1]} feature maps")


def _session(explanation, responses, loaded, name: str, image_name: str):
    from larnet_core.sessions import AnalysisSession

    images = {"face": _png(explanation.image)}
    for cam in explanation.cams:
        images[f"{cam.stage} {cam.method}".replace("+", "p")] = _png(cam.overlay)
    for grid in explanation.hidden:
        images[f"{grid.stage} hidden"] = _png(grid.grid)
    return AnalysisSession(name=name, kind="attention", model=model_ref(loaded), results=responses,
                           images=images, notes=f"Face: {image_name}; predicted {explanation.label}")


st.title("Attention maps")
loaded = current_model()
if loaded is None:
    st.stop()
synthetic_notice(loaded.card)
if loaded.card.in_channels != 3:
    st.error(f"This model takes {loaded.card.in_channels}-channel input; the maps need a 3-channel model.")
    st.stop()

image, image_name = _pick_image()
from larnet_core.explain import CAM_METHODS  # noqa: E402 - after the page header, keeps the first paint fast

options = st.columns(3)
face_mode = options[0].selectbox("Face detection", ("haar", "mtcnn", "none"), key="attention_face",
                                 help="none: the image already is a face crop.")
method = options[1].selectbox("CAM method", list(CAM_METHODS), key="attention_method")
target = options[2].selectbox("Target class", ["predicted class", *loaded.card.class_names], key="attention_target")
if image is None:
    st.info("Pick a face to explain.", icon=":material/info:")
    st.stop()

try:
    with st.spinner("Computing the maps..."):
        explanation, responses = _explain(loaded, image, face_mode, method,
                                          None if target == "predicted class" else target)
except LarnetError as exc:
    st.error(f"Cannot explain {image_name}: {exc}", icon=":material/error:")
    st.stop()

face_col, probs_col = st.columns([1, 2])
face_col.image(explanation.image, caption=f"{image_name}: face crop", width="stretch")
with probs_col:
    st.metric("Predicted class", explanation.label, help="Softmax over the model's classes for this crop.")
    st.plotly_chart(charts.probability_bars(explanation.probabilities, loaded.card.class_names),
                    key="attention_probs", config={"displaylogo": False})

stages = list(dict.fromkeys([c.stage for c in explanation.cams] + [h.stage for h in explanation.hidden]))
for tab, stage in zip(st.tabs(stages), stages):
    with tab:
        _stage_tab(explanation, stage)

st.subheader("Mean absolute response per attention module")
st.caption("Average |H(x)| of every attention module's output for this face, stage by stage (the paper's Fig. 3).")
st.plotly_chart(charts.response_figure(responses, "module", "mean_abs_response", "stage"), key="attention_response",
                config={"displaylogo": False})
with st.expander("Response table"):
    st.dataframe(responses, hide_index=True)
save_to_session("attention", f"Attention: {image_name}",
                lambda name: _session(explanation, responses, loaded, name, image_name))
