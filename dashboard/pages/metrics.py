"""Metrics: accuracy, UF1, UAR and macro-F1 of one or two runs, pooled and per dataset (composite runs);
confusion matrix, per-class and per-subject tables; re-scoring under another label scheme; the frame-level
view of frame-sample runs, labelled as such; downloads."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import charts, config
from dashboard.metrics_view import (
    RunView,
    apex_frames,
    per_class_deltas,
    per_dataset_table,
    reachable_schemes,
    rescore,
    run_from_dir,
    run_from_upload,
    samples_in_cell,
    thumbnail_path,
    uf1_uncertainty,
)
from dashboard.sessions_ui import save_to_session
from dashboard.text import plain, plain_error
from larnet_core.errors import LarnetError
from larnet_core.result import class_names_in, probability_columns

MAX_CELL_ROWS = 200
MAX_THUMBNAILS = 12
LEVELS = {"clip": "Clip level (published)", "frame": "Frame level"}
FRAME_LEVEL_WARNING = ("**Frame level**: every frame is scored as its own prediction, so long clips weigh more. "
                       "These numbers are not comparable with published (clip-level) results.")


@st.cache_resource(max_entries=32, show_spinner="Reading the run...")
def _load_dir(path: str, label: str, stamp: float) -> RunView:
    # Shared and read-only: the page never modifies a RunView in place. stamp = metrics.json mtime.
    return run_from_dir(Path(path), label)


@st.cache_resource(max_entries=8, ttl=600, show_spinner="Looking for the run's frames...")
def _apex_frames(config_json: str) -> dict:
    return apex_frames(json.loads(config_json))


def _available_runs() -> dict[str, str]:
    """Label -> run folder, bundled demo first."""
    from larnet_core.runs import list_runs  # lazy: scikit-learn only when a run's metrics are read

    found: dict[str, str] = {}
    if (config.DEMO_RUN / "metrics.json").is_file():
        found[f"bundled: {config.DEMO_RUN.name}"] = str(config.DEMO_RUN)
    bundled = config.DEMO_RUN.parent
    for run_dir in list_runs(bundled):
        found.setdefault(f"bundled: {run_dir.relative_to(bundled)}", str(run_dir))
    root = config.runs_dir()
    for run_dir in list_runs(root):
        found[f"runs: {run_dir.relative_to(root)}"] = str(run_dir)
    return found


def _headline(report, baseline=None) -> None:
    columns = st.columns(4)
    for column, (key, title) in zip(columns, (("accuracy", "Accuracy"), ("uf1", "UF1"), ("uar", "UAR"),
                                              ("macro_f1", "Macro-F1"))):
        value = getattr(report, key)
        delta = None if baseline is None else f"{value - getattr(baseline, key):+.3f}"
        column.metric(title, f"{value:.3f}", delta=delta)


def _confusion_section(run: RunView, predictions: pd.DataFrame, report, key: str) -> None:
    normalise = st.radio("Values", ("counts", "row-normalised"), horizontal=True, key=f"{key}_norm") \
        == "row-normalised"
    classes = list(report.class_names)
    # The figure must not depend on the selection: Streamlit clears a chart's selection when its figure changes.
    figure = charts.confusion_figure(report.confusion, normalise=normalise)
    event = st.plotly_chart(figure, key=f"{key}_confusion", on_select="rerun", selection_mode=("points", "box"),
                            config={"displaylogo": False})
    points = event.selection.points if event is not None and event.selection else []
    seen_key = f"{key}_seen_selection"
    clicked = [(str(p.get("y")), str(p.get("x"))) for p in points if p.get("curve_number", 0) == 0]
    if clicked and clicked != st.session_state.get(seen_key):
        # A new click or box: move the pickers to its first cell (only once, so the pickers stay usable).
        st.session_state[seen_key] = clicked
        st.session_state[f"{key}_true"], st.session_state[f"{key}_pred"] = clicked[0]
    picker_true, picker_pred = st.columns(2)
    true = picker_true.selectbox("True class", classes, key=f"{key}_true")
    pred = picker_pred.selectbox("Predicted class", classes, key=f"{key}_pred")
    rows = samples_in_cell(predictions, true, pred)
    st.markdown(f"**{len(rows)} sample(s)** true `{true}`, predicted `{pred}`")
    shown = [c for c in ("subject", "clip", "frame", "true_label", "pred_label", "fold") if c in rows] + \
        probability_columns(class_names_in(rows.columns))
    st.dataframe(rows[shown].head(MAX_CELL_ROWS), hide_index=True, key=f"{key}_cell_table",
                 height=min(300, 38 + 35 * max(1, min(len(rows), MAX_CELL_ROWS))))
    apexes = _apex_frames(json.dumps(run.config, sort_keys=True, default=str)) if len(rows) else {}
    images = [(row, path) for _, row in rows.head(MAX_THUMBNAILS * 4).iterrows()
              if (path := thumbnail_path(row, apexes)) is not None][:MAX_THUMBNAILS]
    if images:
        columns = st.columns(min(6, len(images)))
        for index, (row, path) in enumerate(images):
            columns[index % len(columns)].image(str(path), caption=f"{row.get('subject', '')} {row.get('clip', '')}")
    elif len(rows):
        st.caption("No thumbnails: this run's frames are not reachable from here.")
    st.download_button("Confusion matrix (HTML)", charts.figure_html(figure), file_name=f"confusion-{key}.html",
                       mime="text/html", key=f"{key}_dl_confusion", icon=":material/download:")


def _per_class_section(report, key: str) -> None:
    table = report.per_class.copy()
    left, right = st.columns([2, 3])
    left.dataframe(table, hide_index=True, key=f"{key}_per_class",
                   column_config={m: st.column_config.NumberColumn(format="%.3f") for m in ("precision", "recall",
                                                                                          "f1")})
    figure = charts.per_class_figure(table)
    right.plotly_chart(figure, key=f"{key}_per_class_chart", config={"displaylogo": False})
    buttons = st.columns(3)
    buttons[0].download_button("Per-class table (CSV)", table.to_csv(index=False).encode(),
                               file_name=f"per-class-{key}.csv", mime="text/csv", key=f"{key}_dl_pc")
    buttons[1].download_button("Per-class chart (HTML)", charts.figure_html(figure),
                               file_name=f"per-class-{key}.html", mime="text/html", key=f"{key}_dl_pc_fig")
    buttons[2].download_button("All metrics (JSON)", json.dumps(report.to_dict(), indent=2).encode(),
                               file_name=f"metrics-{key}.json", mime="application/json", key=f"{key}_dl_json")


def _per_dataset_section(report, key: str) -> None:
    table = per_dataset_table(report)
    if table is None:
        return
    st.subheader("Per dataset")
    st.caption("The pooled predictions scored on each dataset's samples, as composite results are reported.")
    st.dataframe(table, hide_index=True, key=f"{key}_per_dataset",
                 column_config={m: st.column_config.NumberColumn(format="%.3f") for m in ("accuracy", "uf1", "uar")})
    st.download_button("Per-dataset table (CSV)", table.to_csv(index=False).encode(),
                       file_name=f"per-dataset-{key}.csv", mime="text/csv", key=f"{key}_dl_pd")


def _per_subject_section(report, key: str) -> None:
    if report.per_subject.empty:
        st.caption("No per-subject results (the predictions carry no subject column).")
        return
    figure = charts.per_subject_figure(report.per_subject)
    st.plotly_chart(figure, key=f"{key}_per_subject_chart", config={"displaylogo": False})
    with st.expander("Per-subject table"):
        st.dataframe(report.per_subject, hide_index=True, key=f"{key}_per_subject")
    st.download_button("Per-subject table (CSV)", report.per_subject.to_csv(index=False).encode(),
                       file_name=f"per-subject-{key}.csv", mime="text/csv", key=f"{key}_dl_ps")


def _show_run(run: RunView, predictions: pd.DataFrame, report, key: str, baseline=None,
              baseline_predictions: pd.DataFrame | None = None) -> None:
    if run.synthetic:
        st.warning("This run evaluates a model trained and tested on **synthetic** faces: the numbers show the "
                   "pipeline works, not how it does on real micro-expressions.", icon=":material/science:")
    if report.extra.get("level") == "frame":
        st.warning(FRAME_LEVEL_WARNING, icon=":material/warning:")
    datasets = ", ".join(run.datasets) or "?"
    st.caption(f"{report.n_samples} {'frames' if report.extra.get('level') == 'frame' else 'clips'} scored · "
               f"scheme `{report.extra.get('label_scheme') or '?'}` · protocol `{run.protocol or '?'}` · "
               f"data `{datasets}`")
    if report.extra.get("dropped_predictions"):
        st.caption(f"{report.extra['dropped_predictions']} sample(s) predicted as a class this scheme drops were "
                   "left out (no probabilities to fall back on).")
    _headline(report, baseline)
    uncertainty = uf1_uncertainty(predictions, report, baseline_predictions)
    if uncertainty:
        st.caption(uncertainty)
    _per_dataset_section(report, key)
    st.subheader("Confusion matrix")
    st.caption("Click a cell (or pick it below) to list its samples.")
    _confusion_section(run, predictions, report, key)
    st.subheader("Per-class precision, recall and F1")
    _per_class_section(report, key)
    st.subheader("Per subject")
    _per_subject_section(report, key)


st.title("Metrics")
available = _available_runs()
source_col, upload_col = st.columns([3, 2])
with upload_col:
    upload = st.file_uploader("Or upload a predictions.csv", type=["csv"], key="metrics_upload")
with source_col:
    default = list(available)[:1]
    picked = st.multiselect("Runs (one, or two to compare)", list(available), default=default, max_selections=2,
                            key="metrics_runs", help=f"The bundled demo run and every run under {config.runs_dir()} "
                                                     f"(set {config.RUNS_DIR_ENV} to change the folder).")
runs: list[RunView] = []
for label in picked:
    try:
        metrics_file = config.Path(available[label]) / "metrics.json"
        runs.append(_load_dir(available[label], label, metrics_file.stat().st_mtime))
    except (LarnetError, OSError) as exc:
        st.error(f"Cannot read run {plain(label)}: {plain_error(exc)}", icon=":material/error:")
if upload is not None:
    try:
        runs.append(run_from_upload(upload.name, upload.getvalue()))
    except LarnetError as exc:
        st.error(plain_error(exc), icon=":material/error:")
runs = runs[:2]

if not runs:
    st.info("No run to show. Train one with `larnet train` (runs are read from "
            f"`{config.runs_dir()}`), or upload a predictions.csv.", icon=":material/info:")
    st.stop()

schemes = [s for s in reachable_schemes(runs[0].scheme)
           if all(s in reachable_schemes(other.scheme) for other in runs[1:])]
if len(schemes) > 1:
    target = st.segmented_control("Label scheme", schemes, default=schemes[0], key="metrics_scheme",
                                  help="Re-score with classes merged or dropped (7 -> 5 -> 3): CASME II 7 classes, "
                                       "the field's 5 classes, or the MEGC composite 3 classes.") or schemes[0]
else:
    target = schemes[0] if schemes else ""

level = "clip"
if any(run.frame_predictions is not None for run in runs):
    level = st.segmented_control(
        "Level", list(LEVELS), format_func=LEVELS.get, default="clip", key="metrics_level",
        help="Clip: the frames of a clip combined (mean probability) before scoring, as published results are. "
             "Frame: every frame its own prediction (long clips weigh more); not comparable with published "
             "results.") or "clip"

scored = []
for run in runs:
    try:
        scored.append((run, *rescore(run, target, level if run.frame_predictions is not None else "clip")))
    except LarnetError as exc:
        st.error(plain_error(exc), icon=":material/error:")
if not scored:
    st.stop()

if len(scored) == 1:
    run, predictions, report = scored[0]
    st.header(run.label)
    _show_run(run, predictions, report, "a")
else:
    (run_a, pred_a, rep_a), (run_b, pred_b, rep_b) = scored
    st.subheader("Per-class change")
    deltas = per_class_deltas(rep_a, rep_b)
    st.plotly_chart(charts.per_class_delta_figure(deltas, (run_a.label, run_b.label)), key="delta_chart",
                    config={"displaylogo": False})
    st.dataframe(deltas, hide_index=True, key="delta_table",
                 column_config={c: st.column_config.NumberColumn(format="%+.3f" if c.endswith("delta") else "%.3f")
                                for c in deltas.columns if c not in ("class", "support_a", "support_b")})
    st.download_button("Per-class comparison (CSV)", deltas.to_csv(index=False).encode(),
                       file_name="per-class-comparison.csv", mime="text/csv")
    left, right = st.columns(2)
    with left:
        st.header(run_a.label)
        _show_run(run_a, pred_a, rep_a, "a")
    with right:
        st.header(run_b.label)
        _show_run(run_b, pred_b, rep_b, "b", baseline=rep_a, baseline_predictions=pred_a)


def _session(name: str):
    from larnet_core.sessions import AnalysisSession  # lazy: SQLAlchemy only when a page uses the sessions store

    tables = [report.per_class.assign(run=run.label, scheme=report.extra.get("label_scheme") or "",
                                      accuracy=report.accuracy, uf1=report.uf1, uar=report.uar)
              for run, _, report in scored]
    return AnalysisSession(name=name, kind="metrics", results=pd.concat(tables, ignore_index=True),
                           metrics_runs=[run.reference for run, _, _ in scored],
                           notes=f"Label scheme: {target or 'as recorded'}")


st.divider()
save_to_session("metrics", " vs ".join(run.label for run, _, _ in scored), _session)
