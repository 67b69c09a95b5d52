"""Attention: the soft masks, hidden layers and Grad-CAM of each LARNet stage for one face, and the mean
absolute response of every attention module (the paper's Figs. 3-7)."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import streamlit as st

from dashboard import au_charts, charts, config
from dashboard.models import current_model, model_ref, synthetic_notice
from dashboard.sessions_ui import save_to_session
from dashboard.text import plain, plain_error
from larnet_core.errors import LarnetError
from larnet_core.explain import explainer_for, mean_absolute_response
from larnet_core.face import sample_face_photos
from larnet_core.face.inputs import FACE_MODES, InputConfig, ModelInput, photo_model_input
from larnet_core.images import decode_image
from larnet_core.video import frame_at, open_clip

SOURCES = ("Frame of the current clip", "Bundled sample", "Upload an image", "Webcam snapshot")
HIDDEN_MAPS = 16
_CACHE_KEY = "attention_cache"


def _decode(data: bytes, what: str) -> np.ndarray:
    # Uploads are untrusted: the declared size is checked against the pixel limit before decoding.
    return decode_image(data, what)


@st.cache_data(max_entries=8, show_spinner=False)
def _sample_length(path: str) -> int:
    with open_clip(path) as reader:
        return max(1, reader.meta.frame_count)


@st.cache_data(max_entries=8, show_spinner=False)
def _sample_frame(path: str, index: int) -> np.ndarray:
    return frame_at(path, index)


def _pick_image(flow: bool):
    """The photo or frame to explain, how to name it, and (for flow models) the earlier reference frame. A frame
    of the current clip comes as its analysis' own model input (a :class:`ModelInput`) instead of an image."""
    clip = st.session_state.get("clip_result")
    available = [s for s in SOURCES if s != SOURCES[0] or clip is not None]
    source = st.radio("Face from", available, horizontal=True, key="attention_source")
    if source == SOURCES[0]:
        frames = clip.frames
        # Start where the clip page's scrubber is, else at the strongest facial motion (the likely apex).
        motion = frames["motion"].fillna(-1.0).to_numpy()
        start = int(st.session_state.get("clip_frame") or frames["frame"].iloc[int(np.argmax(motion))])
        index = st.slider("Frame", int(frames["frame"].iloc[0]), int(frames["frame"].iloc[-1]), value=start,
                          key="attention_frame")
        if clip.data is None:
            st.info("The current clip's frames are not available.")
            return None, "", None
        return _clip_input(clip, index), f"{clip.name} frame {index}", None
    if source == SOURCES[1]:
        samples = {p.name: p for p in config.sample_clips()}
        photos = sample_face_photos()
        names = list(photos) + list(samples)
        if flow:
            names = list(samples)
        if not names:
            st.info("No sample clip is bundled; upload an onset and an apex image instead.")
            return None, "", None
        name = st.selectbox("Sample", names, key="attention_sample")
        if name in photos:
            return photos[name], name, None
        onset, apex = 0, int(_sample_length(str(samples[name])) // 2)
        expressions = (config.sample_truth(samples[name]) or {}).get("expressions") or []
        if expressions:  # the sample's first generated expression: its onset and apex frames
            onset, apex = int(expressions[0]["onset_frame"]), int(expressions[0]["apex_frame"])
        reference = _sample_frame(str(samples[name]), onset) if flow else None
        return _sample_frame(str(samples[name]), apex), f"{name} frame {apex}", reference
    if source == SOURCES[2]:
        reference = None
        if flow:
            onset = st.file_uploader("Onset (reference) image: this model reads the motion from it to the face below",
                                     type=["png", "jpg", "jpeg", "bmp"], key="attention_upload_onset")
            reference = _decode(onset.getvalue(), onset.name) if onset is not None else None
        upload = st.file_uploader("Face photo (PNG or JPEG)", type=["png", "jpg", "jpeg", "bmp"],
                                  key="attention_upload")
        if upload is None:
            return None, "", None
        return _decode(upload.getvalue(), upload.name), upload.name, reference
    snapshot = st.camera_input("Webcam snapshot", key="attention_camera")
    if snapshot is None:
        return None, "", None
    return _decode(snapshot.getvalue(), "the snapshot"), "webcam snapshot", None


def _clip_input(clip, index: int):
    """The exact model input the clip analysis used for this frame (nearest inferred frame of the shown face),
    rebuilt from the analysis' own settings; refused when the sidebar model cannot read it."""
    loaded = current_model(quiet=True)
    why_not = "no model is loaded" if loaded is None else clip.explainable_by(loaded.card)
    if why_not is not None:
        raise LarnetError(f"{why_not}; pick the analysis' model in the sidebar")
    return clip.model_input(index)


def _explain(loaded, image, reference: np.ndarray | None, face_mode: str, method: str, target: str | None):
    """Build the model's input on the one road (or take the clip analysis' own) and compute every map, once per
    (input, options); kept for this browser session. Returns ``(face crop, explanation, responses)``."""
    if isinstance(image, ModelInput):
        model_input = image
        digest = hashlib.sha256(model_input.image.tobytes()).hexdigest()
    else:
        digest = hashlib.sha256(image.tobytes() + (reference.tobytes() if reference is not None else b"")).hexdigest()
        model_input = None
    key = (digest, face_mode, method, target, loaded.sha256)
    cached = st.session_state.get(_CACHE_KEY)
    if cached is not None and cached[0] == key:
        return cached[1]
    if model_input is None:
        model_input, _ = photo_model_input(image, InputConfig.for_card(loaded.card), face_mode, reference)
    explainer = explainer_for(loaded)
    explanation = explainer.explain(model_input.image, target_class=target, methods=(method,), k=HIDDEN_MAPS)
    responses = mean_absolute_response(explainer, [model_input.image])
    result = (model_input.crop, explanation, responses)
    st.session_state[_CACHE_KEY] = (key, result)
    return result


def _png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise LarnetError("could not encode an image as PNG")
    return encoded.tobytes()


def _stage_tab(face: np.ndarray, explanation, stage: str, stretch: bool) -> None:
    masks = [m for m in explanation.masks if m.stage == stage]
    if explanation.masks:  # a model without soft masks (the ResNet-18 baseline) has only the maps below
        st.markdown(f"**Soft masks M(x)** of the {len(masks)} attention module(s): bright = kept, dark = suppressed"
                    + (", each stretched to its own range (shows where, hides how much)." if stretch else "."))
    if masks:
        columns = st.columns(min(4, len(masks)))
        for index, mask in enumerate(masks):
            low, high = float(mask.mask_mean.min()), float(mask.mask_mean.max())
            columns[index % len(columns)].image(mask.overlay(face, stretch=stretch), width="stretch",
                                                caption=f"{mask.module} ({mask.resolution[0]}x{mask.resolution[1]}), "
                                                        f"M from {low:.2f} to {high:.2f}")
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
            st.image(overlay_heatmap(face, cam.heatmap), width="stretch",
                     caption=f"{cam.method} for {cam.target_label} (p={cam.score:.2f}), "
                             f"{cam.resolution[0]}x{cam.resolution[1]} feature maps")


def _session(face, explanation, responses, loaded, name: str, image_name: str):
    from larnet_core.sessions import AnalysisSession  # lazy: SQLAlchemy only when a page uses the sessions store

    images = {"face": _png(face)}
    if loaded.card.sample_mode == "flow":
        images["flow input"] = _png(explanation.image)
    for cam in explanation.cams:
        images[f"{cam.stage} {cam.method}".replace("+", "p")] = _png(overlay_heatmap(face, cam.heatmap))
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

flow = loaded.card.sample_mode == "flow"
if flow:
    st.caption("This model was trained on optical flow: it reads the motion from a reference frame to the face, so "
               "the maps below are computed on that flow image and drawn over the face.")
try:
    image, image_name, reference = _pick_image(flow)
except LarnetError as exc:
    st.error(f"Cannot use that image: {plain_error(exc)}", icon=":material/error:")
    image, image_name, reference = None, "", None
from larnet_core.explain import CAM_METHODS, overlay_heatmap  # noqa: E402 - after the header: fast first paint

options = st.columns(3)
face_mode = options[0].selectbox("Face detection", FACE_MODES, key="attention_face",
                                 help="auto: MediaPipe Face Mesh when installed, else MTCNN, else Haar; the face is "
                                      "aligned exactly as in clip analysis. none: the image already is a face crop. "
                                      "A frame of the current clip uses the analysis' own model input.")
method = options[1].selectbox("CAM method", list(CAM_METHODS), key="attention_method")
target = options[2].selectbox("Target class", ["predicted class", *loaded.card.class_names], key="attention_target")
if image is None:
    st.info("Pick a face to explain.", icon=":material/info:")
    st.stop()

try:
    with st.spinner("Computing the maps..."):
        face, explanation, responses = _explain(loaded, image, reference, face_mode, method,
                                                None if target == "predicted class" else target)
except LarnetError as exc:
    st.error(f"Cannot explain {plain(image_name)}: {plain_error(exc)}", icon=":material/error:")
    st.stop()

face_col, probs_col = st.columns([1, 2])
face_col.image(face, caption=f"{image_name}: face crop", width="stretch")
if flow:
    face_col.image(explanation.image, caption="flow input (u, v, strain as RGB)", width="stretch")
with probs_col:
    st.metric("Predicted class", explanation.label, help="Softmax over the model's classes for this crop.")
    st.plotly_chart(charts.probability_bars(explanation.probabilities, loaded.card.class_names),
                    key="attention_probs", config={"displaylogo": False})
    photo_units = au_charts.photo_units(image)
    if photo_units is not None:
        (yaw, pitch, roll), units = photo_units
        st.plotly_chart(au_charts.au_bars_figure(units, f"Action units against an average face (estimates: a "
                                                        f"photo has no neutral of its own) · yaw {yaw:+.0f}, "
                                                        f"pitch {pitch:+.0f}"),
                        key="attention_aus", config={"displaylogo": False})

stretch = st.toggle("Stretch each soft mask to its own range", value=True, key="attention_stretch",
                    help="Masks of a lightly trained model sit near 0.5 everywhere; stretching each to its own "
                         "minimum and maximum shows where it keeps more and less. The caption gives the raw range.")
stages = list(dict.fromkeys([c.stage for c in explanation.cams] + [h.stage for h in explanation.hidden]))
for tab, stage in zip(st.tabs(stages), stages):
    with tab:
        _stage_tab(face, explanation, stage, stretch)

st.subheader("Mean absolute response per attention module")
if responses.empty:
    st.info(f"{loaded.card.preset} has no attention modules (it is a baseline without soft masks); the tabs above "
            "show its stages' hidden layers and class activation maps.", icon=":material/info:")
else:
    st.caption("Average |H(x)| of every attention module's output for this face, stage by stage "
               "(the paper's Fig. 3).")
    st.plotly_chart(charts.response_figure(responses, "module", "mean_abs_response", "stage"),
                    key="attention_response", config={"displaylogo": False})
    with st.expander("Response table"):
        st.dataframe(responses, hide_index=True)
save_to_session("attention", f"Attention: {image_name}",
                lambda name: _session(face, explanation, responses, loaded, name, image_name))
