"""Batch: the clips of a ``larnet batch`` output folder, filtered by status, prediction, subject and label; each
finished clip opens in the clip view (``/clip?batch=<folder>&clip=<id>&key=<key>``).

Folders are found under ``$LARNET_BATCHES_DIR`` (default ``batches/``). Batches belong to whoever may see them,
as sessions do (:mod:`dashboard.batches_ui`): the operator sees every batch and copies a batch's link, which
shows that batch to whoever opens it. The page only reads the batch's tables.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.batches_ui import REFUSAL, accept_link_key, batch_link, link_params, visible_batches
from dashboard.sessions_ui import is_operator, operator_form
from dashboard.text import plain, plain_error
from larnet_core.batch import BatchOutput
from larnet_core.errors import LarnetError
from larnet_core.result import SYNTHETIC_NOTICE

MAX_ROWS = 2000
_FILTERS = (("status", "Status"), ("prediction", "Prediction"), ("subject", "Subject"), ("label", "Label"))


@st.cache_data(max_entries=16, show_spinner="Reading the batch...")
def _summary(path: str, stamp: float) -> pd.DataFrame:
    # stamp = summary.parquet's mtime: a batch still running shows its new rows on the next rerun.
    return BatchOutput(path).read_summary()


@st.cache_data(max_entries=16, show_spinner=False)
def _models(path: str, stamp: float) -> pd.DataFrame:
    return BatchOutput(path).models()


def _filtered(summary: pd.DataFrame) -> pd.DataFrame:
    shown = summary
    columns = st.columns(len(_FILTERS) + 1)
    for column, (name, title) in zip(columns, _FILTERS):
        values = sorted(v for v in summary[name].dropna().unique().tolist() if v != "") if name in summary else []
        if not values:
            continue
        picked = column.multiselect(title, values, key=f"batch_filter_{name}")
        if picked:
            shown = shown[shown[name].isin(picked)]
    text = columns[-1].text_input("Path contains", key="batch_filter_text")
    if text:
        shown = shown[shown["source"].str.contains(text, case=False, regex=False)]
    return shown


st.title("Batch")
accept_link_key()
batches = {name: str(path) for name, path in visible_batches().items()}
wanted = st.query_params.get("batch")
if wanted and wanted not in batches:
    st.error(REFUSAL, icon=":material/error:")
if not batches:
    if is_operator():
        st.info("No batch output folder in the batches folder yet. Make one with `larnet batch CLIPS... "
                "--checkpoint MODEL.pt --out $LARNET_BATCHES_DIR/NAME`.", icon=":material/info:")
    elif not wanted:
        st.info("No batch is shared with this browser. Open a batch's link (the operator finds it on this page), "
                "or enter the operator token below.", icon=":material/info:")
    operator_form("batch")
    st.stop()

names = list(batches)
name = st.selectbox("Batch", names, index=names.index(wanted) if wanted in names else 0, key="batch_pick")
path = batches[name]
if is_operator():
    st.caption("Read-only link to this batch (whoever opens it sees this batch and its clips):")
    st.code(batch_link(name), language=None)
try:
    summary = _summary(path, (Path(path) / "summary.parquet").stat().st_mtime)
except (LarnetError, OSError) as exc:
    st.error(f"Cannot read this batch: {plain_error(exc)}", icon=":material/error:")
    st.stop()

models = _models(path, (Path(path) / "summary.parquet").stat().st_mtime)
for model in models.itertuples():
    where = Path(model.checkpoint).name or model.sha256[:12]
    text = f"{model.clips} clip(s) analysed with **{plain(model.preset)}** ({plain(where)}, SHA-256 {model.sha256[:12]})"
    if model.synthetic:
        st.warning(f"{text}. {SYNTHETIC_NOTICE}", icon=":material/science:")
    else:
        st.caption(text + (f"; trained on {plain(model.training_data)}" if model.training_data else ""))

counts = st.columns(4)
counts[0].metric("Clips", len(summary))
counts[1].metric("Analysed", int((summary["status"] == "ok").sum()))
counts[2].metric("Failed", int((summary["status"] == "failed").sum()))
counts[3].metric("Spotted intervals", int(summary["intervals"].fillna(0).sum()))

shown = _filtered(summary)
st.caption(f"{len(shown)} of {len(summary)} clip(s)" + (f"; the first {MAX_ROWS} shown" if len(shown) > MAX_ROWS
                                                          else ""))
visible = [c for c in ("source", "subject", "label", "status", "prediction", "confidence", "intervals", "n_micro",
                       "n_macro", "frames", "seconds", "error", "clip")
           if c in shown and (c not in ("subject", "label") or shown[c].notna().any())]
st.dataframe(shown[visible].head(MAX_ROWS), hide_index=True, key="batch_table",
             column_config={"confidence": st.column_config.NumberColumn(format="%.3f"),
                            "seconds": st.column_config.NumberColumn(format="%.2f")})

finished = shown[shown["status"] == "ok"]
if finished.empty:
    st.caption("No analysed clip among these: nothing to open.")
    st.stop()
labels = dict(zip(finished["clip"], finished["source"]))
left, right = st.columns([3, 1])
clip = left.selectbox("Clip", list(labels), format_func=lambda c: labels[c], key="batch_clip")
right.page_link("dashboard/pages/clip.py", label="Open in the clip view", icon=":material/movie:",
                query_params={**link_params(name), "clip": clip})
operator_form("batch")
