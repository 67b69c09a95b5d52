"""Clip: analyse an uploaded video or zip of frames (or a bundled sample), then explore the result.

``/clip?session=<id>`` reopens a saved clip analysis read-only; ``/clip?batch=<folder>&clip=<id>&key=<key>`` opens
one clip of a batch output folder shared with this browser (:mod:`dashboard.batches_ui`). What a link carries is
shown as plain text, and a stored analysis that cannot be drawn gets a message.
"""

from __future__ import annotations

import io
import logging
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import streamlit as st

from dashboard import au_charts, charts, config
from dashboard.analysis_options import face_mode_select
from dashboard.batches_ui import REFUSAL, accept_link_key, resolve_clip
from dashboard.clip_view import ClipView, frame_caption, intervals_shown
from dashboard.models import current_model, current_predictor, synthetic_notice
from dashboard.sessions_ui import get_store, remember_session, save_to_session
from dashboard.text import plain, plain_error
from larnet_core import storage
from larnet_core.batch import BatchOutput
from larnet_core.errors import LarnetError
from larnet_core.result import SYNTHETIC_NOTICE
from larnet_core.result.parquet import parquet_bytes
from larnet_core.sessions import result_to_session
from larnet_core.video import AnalysisSettings, analyze_clip, frame_at, render_annotated_video

log = logging.getLogger(__name__)

UPLOAD_TYPES = ["mp4", "avi", "mov", "mkv", "webm", "zip"]
_RESULT_KEY = "clip_result"
MAX_BATCH_CLIP_BYTES = 512 * 1024 * 1024


@st.cache_data(max_entries=64, show_spinner=False)
def _frame(data: bytes, index: int, max_side: int | None = None) -> np.ndarray:
    return frame_at(data, index, max_side=max_side)


def _analyse(data: bytes, name: str, face: str, all_faces: bool) -> None:
    predictor = current_predictor()
    if predictor is None:
        return
    settings = AnalysisSettings(face=face, all_faces=all_faces)  # the options larnet analyze takes, as there
    bar = st.progress(0.0, text="Starting...")
    try:
        analysis = analyze_clip(data, predictor, name=name, **settings.analyze_kwargs(),
                                progress=lambda fraction, message: bar.progress(min(max(fraction, 0.0), 1.0),
                                                                                text=message))
    except LarnetError as exc:
        bar.empty()
        st.error(f"Cannot analyse {plain(name)}: {plain_error(exc)}", icon=":material/error:")
        return
    bar.empty()
    st.session_state[_RESULT_KEY] = ClipView(result=analysis, data=data)


def _from_session(session_id: str) -> ClipView | None:
    store = get_store()
    if store is None:
        return None
    try:
        session = store.get(session_id)
    except LarnetError as exc:
        st.error(plain_error(exc), icon=":material/error:")  # the message quotes the link's id
        return None
    if session.kind != "clip" or session.results is None:
        st.error(f"Session {plain(session_id)} is a {plain(session.kind)} analysis, not a clip analysis; open it in "
                 "Sessions.")
        return None
    try:
        result = storage.read_session(session)  # checked as untrusted input: it may come from a bundle
    except LarnetError as exc:
        st.error(f"This session cannot be shown in the clip view: {plain_error(exc)}", icon=":material/error:")
        return None
    remember_session(session.id)
    st.info(f"Saved session **{plain(session.name)}** (read-only). {plain(' '.join(session.notices))}",
            icon=":material/bookmark:")
    return ClipView(result=result, data=session.input.data, session_id=session.id)


def _from_batch(name: str, clip_id: str) -> ClipView | None:
    """One clip of a batch output folder, with the clip's bytes when its file is still where the batch read it."""
    accept_link_key()
    resolved = resolve_clip(name, clip_id)
    if resolved is None:  # one answer, whether malformed, missing, outside the batches folder or not shared
        st.error(REFUSAL, icon=":material/error:")
        return None
    folder, clip_id = resolved
    try:
        output = BatchOutput(folder)
        result = storage.read(output, clip_id)
    except LarnetError as exc:
        st.error(f"Cannot open this batch clip: {plain_error(exc)}", icon=":material/error:")
        return None
    source = Path(str((output.read_marker(clip_id) or {}).get("input", {}).get("path", "")))
    data = None
    try:
        if source.is_file() and source.stat().st_size <= MAX_BATCH_CLIP_BYTES:
            data = source.read_bytes()
    except OSError:
        data = None
    st.info(f"Clip **{plain(clip_id)}** of batch **{plain(name)}** (read-only)"
            + ("" if data is not None else "; its video file is not reachable from here, so frames are not shown")
            + ".", icon=":material/table_view:")
    return ClipView(result=result, data=data, session_id=f"batch:{name}:{clip_id}")


def _show_stored(view: ClipView) -> None:
    """A saved or batch analysis: whatever its tables make a widget raise, the visitor gets a message."""
    try:
        _show(view)
    except Exception:  # noqa: BLE001 - a stored analysis is data from elsewhere; never a crash of the page
        log.exception("cannot show the stored analysis %s", view.session_id)
        st.error("This saved analysis cannot be shown in full; the server log says why.", icon=":material/error:")


def _prediction_card(view: ClipView) -> None:
    prediction = view.result.prediction
    if prediction is None:
        return
    left, right = st.columns([1, 2])
    with left:
        st.metric("Clip prediction", prediction.label, help="The model's output on the onset and apex of the "
                  "strongest spotted interval, or the mean over the whole clip when nothing was spotted.")
        st.metric("Confidence", f"{prediction.confidence:.2f}")
        where = {"interval": "strongest interval's onset and apex", "apex-window": "apex window"}.get(
            prediction.source, "whole clip")
        st.caption(f"From the {where}, frames {prediction.window[0]}-{prediction.window[1]}.")
    with right:
        st.plotly_chart(charts.probability_bars(view.result.prediction.probabilities, view.class_names),
                        key="clip_probs", config={"displaylogo": False})
    for warning in view.result.warnings:
        st.caption(f":material/info: {plain(warning)}")  # a saved warning may come from a stranger's bundle


def _scrubber(view: ClipView) -> None:
    frames = view.frames
    if frames.empty:
        return
    last = int(frames["frame"].iloc[-1])
    apex = int(view.intervals["apex_frame"].iloc[0]) if len(view.intervals) else 0
    index = st.slider("Frame", 0, last, value=min(apex, last), key="clip_frame")
    row = frames.iloc[(frames["frame"] - index).abs().argmin()]
    st.caption(frame_caption(row))
    if view.data is None:
        st.caption("The clip itself was not stored with this session, so frames cannot be shown.")
        return
    try:
        image = _frame(view.data, int(row["frame"]))
    except LarnetError as exc:
        st.error(f"Cannot read frame {index}: {plain_error(exc)}")
        return
    columns = st.columns([2, 1, 1])
    columns[0].image(_with_box(image, row), caption="frame", width="stretch")
    if not bool(row.get("face_found", True)):
        columns[1].caption("No face in this frame: the model was not run.")
        return
    _model_view(view, int(row["frame"]), columns[1], columns[2])


def _with_box(image: np.ndarray, row: pd.Series) -> np.ndarray:
    if not np.isfinite([row.get("face_x0", np.nan), row.get("face_x1", np.nan)]).all():
        return image
    out = image.copy()
    x0, y0, x1, y1 = (int(round(row[c])) for c in ("face_x0", "face_y0", "face_x1", "face_y1"))
    thickness = max(2, round(min(image.shape[:2]) / 300))
    cv2.rectangle(out, (x0, y0), (x1, y1), (0, 220, 90), thickness)
    return out


def _model_view(view: ClipView, index: int, crop_column, heat_column) -> None:
    """The model's own input for this frame (the aligned crop that produced the row, rebuilt from the analysis'
    own settings) and its Grad-CAM, so the heat map explains exactly the probabilities shown."""
    # lazy: torch only once a model is loaded (pages open without it)
    from larnet_core.explain import grad_cam, overlay_heatmap

    try:
        model_input = view.model_input(index)
    except (LarnetError, ValueError, KeyError, TypeError) as exc:
        heat_column.caption(f"No model input for this frame: {plain_error(exc)}")
        return
    note = "" if model_input.frame_index == index else f" (frame {model_input.frame_index}, the nearest inferred)"
    crop_column.image(model_input.crop, caption=f"model input{note}", width="stretch")
    loaded = current_model(quiet=True)
    why_not = "no model is loaded" if loaded is None else view.explainable_by(loaded.card)
    if why_not is not None:
        heat_column.caption(f"No heat map: {why_not}. Pick the analysis' model in the sidebar.")
        return
    try:
        cam = grad_cam(loaded, model_input.image)
    except LarnetError as exc:
        heat_column.caption(f"No heat map: {plain_error(exc)}")
        return
    heat_column.image(overlay_heatmap(model_input.crop, cam.heatmap),
                      caption=f"Grad-CAM for {cam.target_label} ({cam.stage})", width="stretch")


def _downloads(view: ClipView) -> None:
    stem = view.name.rsplit(".", 1)[0] or "clip"
    columns = st.columns(4)
    # Downloads hold every face's rows, as larnet analyze writes them.
    table = view.result.frames
    columns[0].download_button("Frames (CSV)", table.to_csv(index=False).encode(), file_name=f"{stem}.csv",
                               mime="text/csv", icon=":material/download:")
    columns[1].download_button("Frames (Parquet)", parquet_bytes(table), file_name=f"{stem}.parquet",
                               mime="application/octet-stream", icon=":material/download:")
    columns[2].download_button("Summary (JSON)", view.result.to_json().encode(), file_name=f"{stem}.json",
                               mime="application/json", icon=":material/download:")
    if view.data is None:
        columns[3].caption("No annotated video: the clip was not stored with this session.")
    elif view.result.prediction is not None:
        _annotated_video(columns[3], view, stem)


def _annotated_video(column, view: ClipView, stem: str) -> None:
    video_key = f"clip_video_{view.session_id or id(view.result)}"
    if video_key in st.session_state:
        column.download_button("Annotated video (MP4)", st.session_state[video_key], file_name=f"{stem}-annotated.mp4",
                               mime="video/mp4", icon=":material/download:")
        return
    if column.button("Render annotated video", icon=":material/movie_edit:"):
        with st.spinner("Rendering..."), tempfile.TemporaryDirectory() as folder:
            try:
                out = render_annotated_video(view.data, view.result, Path(folder) / f"{stem}-annotated.mp4")
                st.session_state[video_key] = Path(out).read_bytes()
            except LarnetError as exc:
                column.error(f"Cannot render: {plain_error(exc)}")
                return
        st.rerun()


def _session(view: ClipView, name: str):
    # The whole result, with the model that made it (not whichever model the sidebar shows now).
    return result_to_session(view.result, name, clip=view.data)


def _au_timeline(view: ClipView, time_now: float | None) -> None:
    """AU lanes first (estimates from the skin's movement and the face mesh), then the class curves, smoothed."""
    shown = view.shown or view.result
    frames = shown.main
    if not au_charts.has_units(frames):  # analyses made before action units were estimated
        st.plotly_chart(charts.timeline_figure(frames, shown.intervals, view.class_names, time_now),
                        key="clip_timeline", config={"displaylogo": False})
        return
    st.caption("Action units: estimates, not a certified FACS coder (docs/action-units.md), read ten times a second "
               "from the skin's movement against the face's most neutral frame nearby, and from the face mesh "
               "where that cannot be read; where that frame itself shows a mouth unit (a smile held for seconds), "
               "the mouth's units also come from its shape against this person's own baseline. Blank cells are "
               "not read: a covered region, or a movement the units' "
               "patterns do not explain (most of a real face's movement so far: docs/action-units.md, \"On a real "
               "clip\"). Spotted intervals are outlined with the AUs at their apex and the FACS rules' name for them.")
    st.plotly_chart(au_charts.au_lanes_figure(frames, shown.intervals, time_now), key="clip_au_lanes",
                    config={"displaylogo": False})
    st.caption("Class probabilities per frame (smoothed over 0.25 s); each interval's label is the model's "
               "output on its own onset and apex.")
    smoothed = au_charts.smoothed_frames(frames, view.class_names, shown.meta.fps or 30.0)
    st.plotly_chart(charts.timeline_figure(smoothed, shown.intervals, view.class_names, time_now),
                    key="clip_timeline", config={"displaylogo": False})


def _pick_face(view: ClipView) -> ClipView:
    """For an analysis of every face: a face picker, and the view of the picked face's rows and intervals."""
    analysis = view.result
    if not analysis.settings.get("all_faces") or len(analysis.face_ids) < 2 or analysis.faces.empty:
        return view
    faces = analysis.faces.set_index("face_id")
    main = analysis.settings.get("main_face_id")
    main = main if main in analysis.face_ids else analysis.face_ids[0]  # null, or a face without rows

    def describe(face_id: int) -> str:
        info = faces.loc[face_id]
        return (f"face {face_id}{' (main)' if face_id == main else ''}: frames {int(info['first_frame'])}-"
                f"{int(info['last_frame'])}")

    picked = st.selectbox("Face", analysis.face_ids, index=analysis.face_ids.index(main), format_func=describe,
                          key="clip_face_pick")
    return ClipView(result=analysis, data=view.data, session_id=view.session_id, face_id=int(picked),
                    shown=analysis.for_face(int(picked)))


def _show(view: ClipView) -> None:
    st.header(plain(view.name), anchor=False)  # an input name may come from a stranger's bundle
    view = _pick_face(view)
    if view.result.synthetic:
        st.warning(SYNTHETIC_NOTICE, icon=":material/science:")
    _prediction_card(view)
    st.subheader("Timeline")
    current = st.session_state.get("clip_frame")
    time_now = None
    if current is not None and not view.frames.empty:
        time_now = float(view.frames.iloc[(view.frames["frame"] - current).abs().argmin()]["time_s"])
    _au_timeline(view, time_now)
    st.subheader("Frames")
    _scrubber(view)
    st.subheader(f"Spotted intervals ({len(view.intervals)})")
    if view.intervals.empty:
        st.caption("No micro- or macro-expression was spotted in this clip.")
    else:
        st.dataframe(intervals_shown(view.intervals, view.frames), hide_index=True, key="clip_intervals")
    st.subheader("Downloads")
    _downloads(view)
    if not view.session_id:
        save_to_session("clip", view.name, lambda name: _session(view, name))


st.title("Clip analysis")
batch_name, batch_clip = st.query_params.get("batch"), st.query_params.get("clip")
if batch_name and batch_clip:
    view = _from_batch(batch_name, batch_clip)
    if view is not None:
        _show_stored(view)
    st.stop()
session_id = st.query_params.get("session")
if session_id:
    view = _from_session(session_id)
    if view is not None:
        _show_stored(view)
    st.stop()

loaded = current_model()
if loaded is not None:
    synthetic_notice(loaded.card)
samples = config.sample_clips()
source = st.radio("Input", ("Upload a clip", "Bundled sample"), horizontal=True, key="clip_source",
                  disabled=not samples, help=None if samples else "No sample clips are bundled.")
data, name = None, ""
if source == "Bundled sample" and samples:
    picked = st.selectbox("Sample", samples, format_func=lambda p: p.name, key="clip_sample")
    data, name = picked.read_bytes(), picked.name
    truth = config.sample_truth(picked)
    if truth is not None:
        if truth.get("notice"):
            st.caption(truth["notice"])
        expressions = pd.DataFrame(truth.get("expressions") or [])
        if not expressions.empty:
            with st.expander(f"Ground truth of this sample ({len(expressions)} generated expression(s))"):
                st.dataframe(expressions, hide_index=True)
else:
    upload = st.file_uploader("Video (mp4, avi, mov, mkv, webm) or a zip of frames", type=UPLOAD_TYPES,
                              key="clip_upload")
    if upload is not None:
        data, name = upload.getvalue(), upload.name
face_options = st.columns([2, 1])
face = face_mode_select(face_options[0], "clip_face")
all_faces = face_options[1].checkbox("Every face, not only the main one", key="clip_all_faces",
                                     help="By default the main face (the largest, steadiest track) is analysed and "
                                          "other faces are reported; tick to analyse each face and pick one below.")
if st.button("Analyse", type="primary", disabled=data is None or loaded is None, key="clip_analyse",
             icon=":material/play_arrow:"):
    _analyse(data, name, face, all_faces)

result = st.session_state.get(_RESULT_KEY)
if result is not None:
    _show(result)
elif data is None:
    st.info("Upload a clip or pick a sample, then press Analyse.", icon=":material/info:")
