"""Micro-expression datasets: loaders for CASME II, SAMM, SMIC, CAS(ME)^3, CAS(ME)^2 long videos and user
folders, label schemes, subject-independent splits and training samples.

Names are imported on first use, so ``import larnet_core.data`` does not pull in OpenCV or torch; docs/datasets.md
describes every dataset layout.
"""

from __future__ import annotations

from larnet_core._lazy import lazy_exports

_EXPORTS = {
    "ClipRecord": "records",
    "LongVideoRecord": "records",
    "INTERVAL_COLUMNS": "records",
    "records_to_frame": "records",
    "load_dataset": "loaders",
    "dataset_names": "loaders",
    "load_casme2": "casme2",
    "load_samm": "samm",
    "load_smic": "smic",
    "load_casme3": "casme3",
    "load_casme2_long": "casme2_long",
    "load_samm_long": "samm_long",
    "load_casme3_long": "casme3_long",
    "load_folder": "folder",
    "LabelScheme": "labels",
    "LABEL_SCHEMES": "labels",
    "get_scheme": "labels",
    "scheme_names": "labels",
    "apply_scheme": "labels",
    "remap_labels": "labels",
    "Split": "splits",
    "Fold": "splits",
    "loso_folds": "splits",
    "holdout_split": "splits",
    "validation_subjects": "splits",
    "SAMPLE_MODES": "samples",
    "expand_samples": "samples",
    "FrameDataset": "samples",
    "compute_flow_image": "flow",
    "compute_flow": "flow",
    "FLOW_METHODS": "flow",
    "tvl1_available": "flow",
    "FlowCache": "flow_cache",
    "read_rgb": "images",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
