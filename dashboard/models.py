"""The sidebar model picker and the model cache shared by every page and browser session.

Models are loaded once per checkpoint (path + SHA-256) with ``st.cache_resource`` and shared between browser
sessions, so they are treated as read-only; the Predictor is thread-safe. Which model a user picked lives in
``st.session_state``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from dashboard import config
from dashboard.text import plain, plain_error
from larnet_core.errors import LarnetError
from larnet_core.models import file_sha256
from larnet_core.result import SYNTHETIC_NOTICE, model_provenance
from larnet_core.uploads import UploadCache

if TYPE_CHECKING:  # torch stays unimported until a page needs the model
    from larnet_core.inference import Predictor
    from larnet_core.models import LoadedModel, ModelCard
    from larnet_core.sessions import ModelRef

__all__ = [
    "ModelChoice",
    "model_sidebar",
    "selected_model",
    "current_model",
    "current_predictor",
    "model_ref",
    "show_model_card",
    "synthetic_notice",
]

log = logging.getLogger(__name__)

_CHOICE_KEY = "model_choice"
_SOURCE_DEMO = "Bundled demo model"
_SOURCE_UPLOAD = "Upload a checkpoint"
_SOURCE_RUN = "A run in the runs folder"


@dataclass(frozen=True)
class ModelChoice:
    """The checkpoint a user picked.

    Attributes:
        label: How the sidebar names it.
        path: The checkpoint file.
        source: ``demo``, ``upload`` or ``run``.
    """

    label: str
    path: Path
    source: str


# ------------------------------------------------------------------------------------------ cached resources
@st.cache_data(max_entries=64, show_spinner=False)
def _sha256_of(path: str, mtime_ns: int, size: int) -> str:
    return file_sha256(path)


def _checkpoint_key(path: Path) -> tuple[str, str]:
    stat = path.stat()
    return str(path.resolve()), _sha256_of(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@st.cache_resource(max_entries=4, show_spinner="Loading the model...")
def _load_model(path: str, sha256: str) -> LoadedModel:  # sha256 is part of the cache key
    from larnet_core.models import load_checkpoint  # lazy: torch only once a model is loaded (pages open without it)

    log.info("loading checkpoint %s (%s)", path, sha256[:12])
    return load_checkpoint(path, device="cpu")


@st.cache_resource(max_entries=4, show_spinner="Preparing the model for inference...")
def _load_predictor(path: str, sha256: str, threads: int | None = None) -> Predictor:
    # lazy: ONNX Runtime (and torch, unless the ONNX cache serves the model) only once a model is loaded (pages
    # open without them)
    from larnet_core.inference import Predictor, load_for_inference

    # A separate copy from _load_model: the Predictor may move or export its network, and the attention page
    # attaches hooks to the other copy.
    return Predictor(load_for_inference(path, device="cpu"), threads=threads)


@st.cache_resource(max_entries=16, ttl=30, show_spinner=False)
def _run_checkpoints(root: str, stamp: float) -> list[tuple[str, str]]:
    """(label, checkpoint path) of every run under ``root`` that has a reachable checkpoint."""
    from larnet_core.runs import list_runs, load_run  # lazy: scikit-learn only when a run's metrics are read

    found = []
    for run_dir in list_runs(root):
        try:
            run = load_run(run_dir)
        except LarnetError as exc:
            log.warning("skipping run %s: %s", run_dir, exc)
            continue
        if run.checkpoint is not None:
            found.append((str(run_dir.relative_to(root)), str(run.checkpoint)))
    return found


#: Uploaded checkpoints kept at most (count, bytes, hours since last use): strangers may upload.
UPLOAD_CACHE_FILES = 8
UPLOAD_CACHE_BYTES = 1024**3
UPLOAD_CACHE_HOURS = 24.0


def _upload_cache():
    from larnet_core.sessions import data_dir  # lazy: SQLAlchemy only when a page uses the sessions store

    return UploadCache(data_dir() / "uploads" / "models", suffix=".pt", max_files=UPLOAD_CACHE_FILES,
                       max_bytes=UPLOAD_CACHE_BYTES, max_age_s=UPLOAD_CACHE_HOURS * 3600)


def _store_upload(data: bytes) -> Path:
    """Keep an uploaded checkpoint in the bounded, expiring upload cache, named by its hash (loaded later,
    safely)."""
    return _upload_cache().put(data)


# ------------------------------------------------------------------------------------------------- picker
def model_sidebar() -> None:
    """Draw the model picker in the sidebar and remember the choice for this browser session."""
    st.sidebar.header("Model")
    source = st.sidebar.radio("Model source", (_SOURCE_DEMO, _SOURCE_UPLOAD, _SOURCE_RUN), key="model_source",
                              label_visibility="collapsed")
    choice: ModelChoice | None = None
    if source == _SOURCE_DEMO:
        path = config.default_checkpoint()
        choice = ModelChoice(label=path.name, path=path, source="demo")
    elif source == _SOURCE_UPLOAD:
        upload = st.sidebar.file_uploader("Checkpoint (.pt written by larnet train)", type=["pt", "pth"],
                                          key="model_upload")
        if upload is not None:
            try:
                choice = ModelChoice(label=upload.name, path=_store_upload(upload.getvalue()), source="upload")
            except LarnetError as exc:
                st.sidebar.error(f"Cannot keep the upload: {plain_error(exc)}")
        else:
            st.sidebar.caption("Checkpoints are loaded as plain weights only (no code is run from the file); "
                               f"uploads are kept for {UPLOAD_CACHE_HOURS:g} hours.")
    else:
        root = config.runs_dir()
        stamp = root.stat().st_mtime if root.is_dir() else 0.0
        runs = _run_checkpoints(str(root), stamp) if root.is_dir() else []
        if not runs:
            st.sidebar.info(f"No run with a checkpoint under `{root}`. Set LARNET_RUNS_DIR to your runs folder.")
        else:
            labels = [label for label, _ in runs]
            picked = st.sidebar.selectbox("Run", labels, key="model_run")
            choice = ModelChoice(label=picked, path=Path(dict(runs)[picked]), source="run")
    st.session_state[_CHOICE_KEY] = choice
    loaded = current_model(quiet=True)
    if loaded is None and choice is not None and choice.source == "upload":
        _upload_cache().discard(choice.path)  # a refused upload is not kept
    if loaded is not None:
        card = loaded.card
        st.sidebar.caption(f"**{plain(card.preset)}** · {card.num_classes} classes · {card.input_size} px · "
                           f"{plain(card.sample_mode)} input")
        if card.synthetic:
            st.sidebar.warning(SYNTHETIC_NOTICE, icon=":material/science:")


def selected_model() -> ModelChoice | None:
    """The checkpoint picked in the sidebar (the default checkpoint before the sidebar has run)."""
    if _CHOICE_KEY in st.session_state:
        return st.session_state[_CHOICE_KEY]
    path = config.default_checkpoint()
    return ModelChoice(label=path.name, path=path, source="demo")


def _missing_message(choice: ModelChoice | None) -> str:
    if choice is None:
        return "No model is selected: pick one in the sidebar."
    if choice.source == "demo":
        return (f"The demo checkpoint `{choice.path}` is missing. Rebuild it with `make demo-model`, set "
                f"{config.DEFAULT_CHECKPOINT_ENV} to a checkpoint, or upload one in the sidebar.")
    if choice.source == "upload":
        return (f"The uploaded checkpoint {plain(choice.label)} is no longer available (uploads are kept for "
                f"{UPLOAD_CACHE_HOURS:g} hours after their last use); upload it again or pick another model.")
    return f"The checkpoint {plain(choice.label)} does not exist any more; pick another model in the sidebar."


def current_model(*, quiet: bool = False) -> LoadedModel | None:
    """The picked model as a ``LoadedModel`` (network + card), or None after telling the user why.

    Args:
        quiet: Return None without drawing a message (used by the sidebar, which has its own).
    """
    choice = selected_model()
    if choice is None or not choice.path.is_file():
        if not quiet:
            st.warning(_missing_message(choice), icon=":material/warning:")
        return None
    try:
        return _load_model(*_checkpoint_key(choice.path))
    except LarnetError as exc:
        if not quiet:
            st.error(f"Cannot load the model: {plain_error(exc)}", icon=":material/error:")
        else:
            st.sidebar.error(f"Cannot load the model: {plain_error(exc)}")
        return None


def current_predictor(threads: int | None = None) -> Predictor | None:
    """A thread-safe ``Predictor`` for the picked model, or None after telling the user why.

    Args:
        threads: ONNX Runtime's threads per call (None: one per core); each count is a predictor of its own.
    """
    if current_model() is None:
        return None
    choice = selected_model()
    try:
        return _load_predictor(*_checkpoint_key(choice.path), threads)
    except LarnetError as exc:
        st.error(f"Cannot prepare the model for inference: {plain_error(exc)}", icon=":material/error:")
        return None


def model_ref(loaded: LoadedModel) -> ModelRef:
    """The ``ModelRef`` saved with a session for ``loaded``."""
    # lazy: SQLAlchemy only when a page uses the sessions store
    from larnet_core.sessions.results import model_ref as named

    return named(model_provenance(loaded))


# ------------------------------------------------------------------------------------------------ display
def synthetic_notice(card: ModelCard) -> None:
    """The notice every place that shows a synthetic-data model must carry."""
    if card.synthetic:
        st.warning(f"**{SYNTHETIC_NOTICE}** It learned from {plain(card.training_data)}.",
                   icon=":material/science:")


def show_model_card(loaded: LoadedModel) -> None:
    """The model card: preset, classes, input, training data and provenance."""
    card = loaded.card
    synthetic_notice(card)
    left, right = st.columns(2)
    with left:
        # Card text comes from the checkpoint file, which anyone may have written: shown as plain text.
        st.markdown(f"**Preset:** `{card.preset}`  \n"
                    f"**Classes ({card.num_classes}):** {plain(', '.join(card.class_names))}  \n"
                    f"**Label scheme:** {plain(card.label_scheme or 'not recorded')}  \n"
                    f"**Input:** {card.input_size} x {card.input_size} px, {card.in_channels} channels, "
                    f"`{card.sample_mode}` samples")
    with right:
        st.markdown(f"**Training data:** {plain(card.training_data)}  \n"
                    f"**Attention:** {card.attention}{' (residual)' if card.residual else ' (naive M*T)'}  \n"
                    f"**Checkpoint:** {plain(Path(loaded.path).name if loaded.path else '-')} "
                    f"(SHA-256 `{loaded.sha256[:12]}`)  \n"
                    f"**Created:** {plain(card.created_at)} with LARNet Studio {plain(card.code_version)}")
    if card.notes:
        st.caption(plain(card.notes))


