"""Live: real-time micro-expression analysis of the webcam through streamlit-webrtc.

The frame callback runs in streamlit-webrtc's worker thread: it converts the frame, calls
``LiveAnalyzer.process`` (face track, crop, model, motion, overlay), and puts a small named tuple on a bounded
queue. It never touches ``st.*``. The page drains that queue with a timeout into ``st.empty()`` placeholders.
"""

from __future__ import annotations

from collections import deque
import dataclasses
import logging
import queue
import time
from typing import NamedTuple

import av
import numpy as np
import pandas as pd
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from dashboard import au_charts, charts
from dashboard.analysis_options import face_mode_select
from dashboard.config import rtc_configuration
from dashboard.models import current_model, current_predictor, selected_model, synthetic_notice
from dashboard.sessions_ui import save_to_session
from dashboard.text import plain_error
from larnet_core.errors import LarnetError
from larnet_core.result import live_result, model_provenance, prob_column
from larnet_core.video import LiveAnalyzer
from larnet_core.video.live import LIVE_SETTINGS
from larnet_core.video.stream import LiveStream

log = logging.getLogger(__name__)

QUEUE_SIZE = 64            # reports waiting for the page; the oldest is dropped when the page falls behind
HISTORY_S = 10.0           # seconds of probabilities and motion in the rolling charts
# Every redraw costs this process the GIL (building deltas and plotly figures) and the browser a render, on the
# cores that decode, analyse and encode the video: the figures are redrawn at most DRAW_PERIOD_S apart, the charts
# at most CHART_PERIOD_S apart, however fast frames come.
DRAW_PERIOD_S = 0.25
CHART_PERIOD_S = 1.0
FPS_WINDOW_S = 2.0         # processing rate measured over this window
LIVE_MODEL_THREADS = 1     # ONNX Runtime threads per model call on this page


class FrameReport(NamedTuple):
    """What the callback hands the page for one frame."""

    frame_index: int
    time_s: float
    label: str | None
    confidence: float | None
    probabilities: dict[str, float]
    motion: float
    latency_ms: float
    error: str | None
    done_at: float
    pose: tuple[float, float, float] | None = None
    aus: dict[str, float] | None = None


class LiveState:
    """Per-browser-session live state: the analyzer, its report queue and the rolling history shown."""

    def __init__(self, analyzer, model_key: str) -> None:
        self.analyzer = analyzer
        self.model_key = model_key
        # Conversion, analysis and the frame slots all streams of the server share (larnet_core.video.stream).
        self.stream = LiveStream(analyzer)
        self.reports: queue.Queue[FrameReport] = queue.Queue(maxsize=QUEUE_SIZE)
        self.history: deque[FrameReport] = deque(maxlen=2000)
        self.frames_analysed = 0
        self.settled = True  # the analyzer's last frames were settled after the stream stopped
        self.events_shown: tuple | None = None  # (count, last event) in the events table on the page now

    async def newest(self, frames: list[av.VideoFrame]) -> list[av.VideoFrame]:
        """streamlit-webrtc's worker hands over every frame that arrived while the last one was analysed: the
        newest is analysed and the older ones are dropped (traced for the page benchmark), so the returned video
        never lags behind the camera. Without this callback the library drops them the same way but logs a warning
        for every such call."""
        if len(frames) > 1:
            self.stream.write_trace(start=time.monotonic(), dropped=float(len(frames) - 1))
        return [self.callback(frames[-1])]

    def callback(self, frame: av.VideoFrame) -> av.VideoFrame:
        # Never raises; result is None for a frame skipped because the server is at capacity.
        out, result = self.stream.process(frame)
        if result is None:
            return out
        report = FrameReport(result.frame_index, result.time_s, result.label, result.confidence,
                             dict(result.probabilities), float(result.motion), float(result.latency_ms),
                             result.error, time.monotonic(), result.pose, dict(result.aus))
        try:
            self.reports.put_nowait(report)
        except queue.Full:
            try:
                self.reports.get_nowait()
            except queue.Empty:
                pass
            self.reports.put_nowait(report)
        return out


def _state(predictor, settings) -> LiveState:
    """This browser session's analyzer: a new one when the model or the analysis settings change."""
    key = f"{selected_model().path}:{predictor.sha256}:{sorted(settings.to_dict().items())}"
    state = st.session_state.get("live_state")
    if state is None or state.model_key != key:
        state = LiveAnalyzer(predictor, fps_hint=30.0, settings=settings)
        state = LiveState(state, key)
        st.session_state["live_state"] = state
    return state


def _result(state: LiveState, predictor, seconds: float | None = None):
    """The stream's analysis result: smoothed per-frame history (the last ``seconds`` of it when given), the
    spotted events and the stream settings."""
    history = list(state.history)
    if seconds is not None and history:
        history = [r for r in history if r.time_s >= history[-1].time_s - seconds]
    return live_result(history, state.analyzer.events, list(predictor.card.class_names), model_provenance(predictor),
                       state.analyzer.settings, fps=float(state.analyzer.fps_hint),
                       intervals=state.analyzer.intervals)


def _events_table(state: LiveState) -> pd.DataFrame:
    return au_charts.events_shown(state.analyzer.events)


def _history_frame(state: LiveState) -> pd.DataFrame:
    """The rolling charts' data: time, motion and every class's smoothed probability over the last HISTORY_S
    seconds. Built straight from the reports: it is redrawn while the video runs, and the full table
    (:func:`_result`) costs the frame callback several milliseconds of the GIL each time."""
    history = list(state.history)
    if history:
        history = [r for r in history if r.time_s >= history[-1].time_s - HISTORY_S]
    columns = {"time_s": [r.time_s for r in history], "motion": [r.motion for r in history]}
    for name in state.analyzer.class_names:
        columns[prob_column(name)] = [r.probabilities.get(name, np.nan) for r in history]
    return pd.DataFrame(columns)


def _session(state: LiveState, predictor, name: str):
    if state.frames_analysed == 0:
        raise LarnetError("nothing to save yet: press START and let the webcam run first")
    # lazy: SQLAlchemy only when a stream is saved
    from larnet_core.sessions import result_to_session

    return result_to_session(_result(state, predictor), name)


st.title("Live webcam")
loaded = current_model()
# One ONNX Runtime thread per call: a second one saves about a millisecond of a 6 ms batch-1 call and costs 3 ms
# more CPU on the cores that decode, track, encode and show the video (as `larnet bench live --threads 1`).
predictor = current_predictor(threads=LIVE_MODEL_THREADS) if loaded is not None else None
if predictor is None:
    st.stop()
synthetic_notice(loaded.card)
class_names = list(loaded.card.class_names)


def _settings():
    """The stream's analysis settings, from the same controls as the clip page's where they mean the same."""
    playing = st.session_state.get("live_playing", False)
    face = face_mode_select(st, "live_face", disabled=playing)
    return dataclasses.replace(LIVE_SETTINGS, face=face)


state = _state(predictor, _settings())
try:
    rtc = rtc_configuration(st.secrets)
except LarnetError as exc:
    st.error(plain_error(exc), icon=":material/error:")
    st.stop()

stats = st.columns(4)
frames_box, fps_box, latency_box, prediction_box = (column.empty() for column in stats)
video, side = st.columns([3, 2])
with video:
    context = webrtc_streamer(
        key="live",
        mode=WebRtcMode.SENDRECV,
        rtc_configuration=rtc,
        media_stream_constraints={"video": True, "audio": False},
        video_frame_callback=state.callback,
        queued_video_frames_callback=state.newest,
        async_processing=True,
    )
    st.caption("Frames are analysed on this machine; nothing leaves it. A face box, the top class and the "
               "probabilities are drawn on the returned video.")
with side:
    probabilities_box = st.empty()
    units_box = st.empty()
    motion_box = st.empty()
st.session_state["live_playing"] = bool(context.state.playing)  # the face mode is fixed while the stream runs
if not context.state.playing and not state.settled:
    # The stream stopped: the last half second of motion is final now, and so are the events it completes.
    state.analyzer.finish()
    state.settled = True
st.subheader("Spotted expressions")
st.caption("Spotted and labelled as in a clip, a moment after each expression ends: the model reads each expression's "
           "own onset and apex, and its action units and FACS rule come from the skin's movement up to its apex "
           "(and, for a mouth unit the face already held before it, from the mouth's shape). The prediction shown "
           "above is the mean of the last half second of the face's probabilities; frames without a "
           "face have none.")
events_box = st.empty()
if st.button("Reset the stream's events", key="live_reset"):
    state.analyzer.reset()
    state.history.clear()
    state.frames_analysed = 0
save_to_session("live", "Live session", lambda name: _session(state, predictor, name))


def _draw(charts_too: bool) -> None:
    recent = [r for r in state.history if r.done_at >= time.monotonic() - FPS_WINDOW_S]
    frames_box.metric("Frames analysed", state.frames_analysed)
    fps_box.metric("Processing fps", f"{len(recent) / FPS_WINDOW_S:.1f}")
    last = state.history[-1] if state.history else None
    latency_box.metric("Latency (ms)", f"{last.latency_ms:.0f}" if last else "-")
    skipped = state.stream.skipped_share
    if skipped > 0.2:
        latency_box.warning(f"Server busy: {skipped:.0%} of frames skipped", icon=":material/speed:")
    if last is None:
        prediction_box.info("Press START to analyse the webcam.", icon=":material/videocam:")
    elif last.error:
        prediction_box.error(f"Frame {last.frame_index}: {last.error}")
    elif last.label is None:
        prediction_box.warning("No face in view.", icon=":material/face:")
    else:
        prediction_box.success(f"Current prediction: **{last.label}** ({last.confidence:.2f})")
    if charts_too:
        history = _history_frame(state)
        probabilities_box.plotly_chart(charts.rolling_probabilities_figure(history, class_names),
                                       key=f"live_probs_{time.monotonic_ns()}", config={"displayModeBar": False})
        motion_box.plotly_chart(charts.motion_figure(history), key=f"live_motion_{time.monotonic_ns()}",
                                config={"displayModeBar": False})
        if last is not None and last.aus:
            pose = "" if last.pose is None else (f"yaw {last.pose[0]:+.0f}, pitch {last.pose[1]:+.0f}, "
                                                  f"roll {last.pose[2]:+.0f} degrees")
            units_box.plotly_chart(au_charts.au_bars_figure(last.aus, f"Action units (estimates)<br><sup>{pose}</sup>"),
                                   key=f"live_aus_{time.monotonic_ns()}", config={"displayModeBar": False})
        events = state.analyzer.events
        if (len(events), events[-1] if events else None) == state.events_shown:
            return  # the table is unchanged: rebuilding it costs the frame callback the GIL for nothing
        state.events_shown = (len(events), events[-1] if events else None)
        events = _events_table(state)
        events_box.dataframe(events.iloc[::-1], hide_index=True, key=f"live_events_{time.monotonic_ns()}",
                             column_config={"time_s": st.column_config.NumberColumn("time (s)", format="%.2f"),
                                            "face_id": st.column_config.NumberColumn("face"),
                                            "confidence": st.column_config.NumberColumn(format="%.2f"),
                                            "duration_s": st.column_config.NumberColumn("duration (s)",
                                                                                        format="%.3f")})


state.events_shown = None  # a new run of the page starts with an empty table
_draw(charts_too=True)
last_chart = time.monotonic()
while context.state.playing:
    try:
        report = state.reports.get(timeout=1.0)
    except queue.Empty:
        continue
    drawing = time.monotonic()
    state.history.append(report)
    state.frames_analysed += 1
    state.settled = False
    while True:  # take what piled up since the last redraw
        try:
            report = state.reports.get_nowait()
        except queue.Empty:
            break
        state.history.append(report)
        state.frames_analysed += 1
    redraw_charts = drawing - last_chart >= CHART_PERIOD_S
    started = time.perf_counter()
    _draw(redraw_charts)
    state.stream.write_trace(start=time.monotonic(), page_draw=1e3 * (time.perf_counter() - started),
                             charts=float(redraw_charts))
    if redraw_charts:
        last_chart = drawing
    time.sleep(max(0.0, DRAW_PERIOD_S - (time.monotonic() - drawing)))
