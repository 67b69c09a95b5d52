"""Batch: the clips of a ``larnet batch`` output folder, filtered by status, prediction, subject and label; each
finished clip opens in the clip view (``/clip?batch=<folder>&clip=<id>``).

Folders are found under ``$LARNET_BATCHES_DIR`` (default ``batches/``). The page only reads the batch's tables.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import config
from dashboard.text import plain
from larnet_core.errors import LarnetError
from larnet_core.result import SYNTHETIC_NOTICE

MAX_ROWS = 2000
_FILTERS = (("status", "Status"), ("prediction", "Prediction"), ("subject", "Subject"), ("label", "Label"))


@st.cache_data(max_entries=16, show_spinner="Reading the batch...")
def _summary(path: str, stamp: float) -> pd.DataFrame:
    # stamp = summary.parquet's mtime: a batch still running shows its new rows on the next rerun.
    from larnet_core.batch import BatchOutput

    return BatchOutput(path).read_summary()


@st.cache_data(max_entries=16, show_spinner=False)
def _models(path: str, stamp: float) -> pd.DataFrame:
    from larnet_core.batch import BatchOutput

    return BatchOutput(path).models()


def _batches() -> dict[str, str]:
    """Folder name (relative to the batches folder) -> path."""
    from larnet_core.batch import find_batch_dirs

    root = config.batches_dir()
    return {(p.relative_to(root).as_posix() if p != root else "."): str(p) for p in find_batch_dirs(root)}


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
batches = _batches()
if not batches:
    st.info(f"No batch output folder under `{config.batches_dir()}`. Make one with `larnet batch CLIPS... "
            f"--checkpoint MODEL.pt --out {config.batches_dir()}/NAME` (or set LARNET_BATCHES_DIR).",
            icon=":material/info:")
    st.stop()

wanted = st.query_params.get("batch")
names = list(batches)
name = st.selectbox("Batch", names, index=names.index(wanted) if wanted in names else 0, key="batch_pick")
path = batches[name]
try:
    summary = _summary(path, (config.batches_dir() / name / "summary.parquet").stat().st_mtime)
except (LarnetError, OSError) as exc:
    st.error(f"Cannot read this batch: {plain(exc)}", icon=":material/error:")
    st.stop()

models = _models(path, (config.batches_dir() / name / "summary.parquet").stat().st_mtime)
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
                query_params={"batch": name, "clip": clip})
