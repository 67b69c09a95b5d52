"""Runs as the metrics page sees them: where they come from, and re-scoring under another label scheme.

Scores are always computed by :func:`larnet_core.metrics.compute_metrics`; label translation is the engine's one
7 -> 5 -> 3 conversion, :func:`larnet_core.training.protocol.convert_predictions` (probabilities summed into
the target classes, as ``larnet evaluate --labels`` does). This module only joins them to predictions tables.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from dashboard.config import REPO_ROOT
from larnet_core.data import LABEL_SCHEMES, load_dataset, remap_labels
from larnet_core.errors import LarnetError
from larnet_core.result import class_names_in

if TYPE_CHECKING:
    from larnet_core.metrics import MetricsReport

__all__ = ["RunView", "run_from_dir", "run_from_upload", "rescore", "reachable_schemes", "per_class_deltas",
           "samples_in_cell", "apex_frames", "thumbnail_path", "uf1_uncertainty", "per_dataset_table"]


@dataclass
class RunView:
    """One run ready to display.

    Attributes:
        label: How the page names the run.
        predictions: One row per test sample (``true_label``, ``pred_label``, ``prob_<class>``...).
        class_names: The classes the run was scored with.
        scheme: Its label scheme name, empty when unknown.
        reference: What a saved session records for it (a folder path, or an upload's file name).
        config: The run's config.json (empty for an uploaded table).
        synthetic: True when the run evaluates a model trained on synthetic data.
        protocol: ``loso``, ``holdout`` ... or empty.
        frame_predictions: one row per frame for runs in ``frames`` sample mode (the frame-level view), else None.
    """

    label: str
    predictions: pd.DataFrame
    class_names: list[str]
    scheme: str
    reference: str
    config: dict
    synthetic: bool = False
    protocol: str = ""
    frame_predictions: pd.DataFrame | None = None

    @property
    def datasets(self) -> list[str]:
        """The datasets the predictions cover (several for a composite run), in order of appearance."""
        if "dataset" not in self.predictions:
            return []
        return [str(d) for d in self.predictions["dataset"].dropna().unique() if str(d)]


def run_from_dir(path: Path, label: str) -> RunView:
    """Read a run directory (raises LarnetError when it is incomplete)."""
    from larnet_core.runs import load_run  # lazy: scikit-learn only when a run's metrics are read

    run = load_run(path)
    extra = run.metrics.extra
    return RunView(label=label, predictions=run.predictions, class_names=list(run.metrics.class_names),
                   scheme=str(extra.get("label_scheme") or run.config.get("label_scheme") or ""),
                   reference=str(path), config=run.config,
                   synthetic=bool(extra.get("synthetic", run.config.get("synthetic", False))),
                   protocol=str(extra.get("protocol") or run.config.get("protocol") or ""),
                   frame_predictions=run.frame_predictions)


def _guess_scheme(class_names: list[str]) -> str:
    for name, scheme in LABEL_SCHEMES.items():
        if set(scheme.classes) == set(class_names):
            return name
    return ""


def run_from_upload(name: str, data: bytes) -> RunView:
    """Read an uploaded predictions.csv.

    Classes are the ``prob_<class>`` columns in order, else the labels that occur.

    Raises:
        LarnetError: when the file is not a CSV with ``true_label`` and ``pred_label`` columns.
    """
    try:
        table = pd.read_csv(io.BytesIO(data), dtype={"subject": str, "clip": str, "frame": str, "dataset": str})
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise LarnetError(f"{name} is not a readable CSV file ({str(exc).splitlines()[0]}); upload the "
                          "predictions.csv of a run") from None
    missing = {"true_label", "pred_label"} - set(table.columns)
    if missing:
        raise LarnetError(f"{name} lacks column(s) {', '.join(sorted(missing))}; a predictions.csv has "
                          "subject, clip, frame, true_label, pred_label, prob_<class>...")
    table = table.dropna(subset=["pred_label"])
    if table.empty:
        raise LarnetError(f"{name} has no prediction rows")
    table["true_label"] = table["true_label"].astype(str)
    table["pred_label"] = table["pred_label"].astype(str)
    classes = class_names_in(table.columns)
    labels = set(table["true_label"]) | set(table["pred_label"])
    if not classes or not labels <= set(classes):
        classes = sorted(labels)
    return RunView(label=f"uploaded: {name}", predictions=table, class_names=classes,
                   scheme=_guess_scheme(classes), reference=name, config={})


def reachable_schemes(scheme: str) -> list[str]:
    """Schemes a run scored under ``scheme`` can be re-scored under (itself first)."""
    if scheme not in LABEL_SCHEMES:
        return [scheme] if scheme else []
    reachable = [scheme]
    for target in LABEL_SCHEMES:
        if target == scheme:
            continue
        try:
            remap_labels(list(LABEL_SCHEMES[scheme].classes[:1]), scheme, target)
        except ValueError:
            continue
        reachable.append(target)
    return reachable


def rescore(run: RunView, target_scheme: str, level: str = "clip") -> tuple[pd.DataFrame, MetricsReport]:
    """The run's ``(predictions, MetricsReport)``, translated into ``target_scheme`` first when it differs.

    Translation sums each sample's class probabilities into the target classes and predicts their argmax
    (:func:`larnet_core.training.protocol.convert_predictions`); samples whose true class the target drops are
    left out. A table without probabilities can only map its predicted labels; a prediction of a dropped class
    is then left out, and the number is returned in the report's ``extra["dropped_predictions"]``.

    Args:
        level: ``clip`` (the run's scores, one row per clip) or ``frame`` (every frame its own prediction; only
            for runs with frame predictions, and not comparable with published results).

    Raises:
        LarnetError: when the run cannot be translated or scored, or has no frame level.
    """
    # lazy: scikit-learn only when a run's metrics are read
    from larnet_core.metrics import compute_metrics
    from larnet_core.training.protocol import convert_predictions

    table = run.predictions
    if level == "frame":
        if run.frame_predictions is None:
            raise LarnetError(f"{run.label} has no frame-level predictions (only runs in frames sample mode do)")
        table = run.frame_predictions
    facts = {"label_scheme": target_scheme or run.scheme, "protocol": run.protocol, "synthetic": run.synthetic,
             "level": level}
    try:
        if not target_scheme or target_scheme == run.scheme:
            return table, compute_metrics(table, run.class_names, **facts)
        converted, classes, dropped = convert_predictions(table, run.scheme, target_scheme, run.class_names)
        return converted, compute_metrics(converted, classes, dropped_predictions=dropped, **facts)
    except ValueError as exc:
        raise LarnetError(f"cannot score {run.label} under {target_scheme or run.scheme}: {exc}") from None


def per_class_deltas(first: MetricsReport, second: MetricsReport) -> pd.DataFrame:
    """Per-class precision/recall/F1 of two reports side by side, with the change from first to second."""
    merged = first.per_class.merge(second.per_class, on="class", how="outer", suffixes=("_a", "_b"))
    for metric in ("precision", "recall", "f1"):
        merged[f"{metric}_delta"] = merged[f"{metric}_b"].fillna(0) - merged[f"{metric}_a"].fillna(0)
    return merged


def uf1_uncertainty(predictions: pd.DataFrame, report: MetricsReport,
                    baseline_predictions: pd.DataFrame | None = None) -> str | None:
    """A sentence giving the UF1's 95 % interval over test subjects (and, against a first run tested on the same
    subjects, the paired interval of the difference); None when the table has fewer than two subjects."""
    from larnet_core.metrics import subject_bootstrap  # lazy: scikit-learn only when a run's metrics are read

    if "subject" not in predictions or predictions["subject"].nunique() < 2:
        return None
    interval = subject_bootstrap(predictions, report.class_names)  # same resamples as `larnet compare`
    text = (f"UF1 {interval.estimate:.3f}, 95 % interval {interval.low:.3f} to {interval.high:.3f} from resampling "
            f"the {interval.n_subjects} test subjects.")
    if baseline_predictions is not None:
        try:
            delta = subject_bootstrap(predictions, report.class_names, baseline=baseline_predictions)
        except ValueError:
            return text + " The first run was tested on other subjects, so the difference has no paired interval."
        verdict = "does not separate the two runs" if delta.low <= 0 <= delta.high else "separates the two runs"
        text += (f" Difference from the first run {delta.estimate:+.3f} (paired, {delta.low:+.3f} to "
                 f"{delta.high:+.3f}): this test set {verdict}.")
    return text


def per_dataset_table(report: MetricsReport) -> pd.DataFrame | None:
    """The report's per-dataset rows (UF1, UAR, accuracy, counts) when it covers several datasets, else None."""
    table = report.per_dataset
    return table if table is not None and len(table) > 1 else None


def samples_in_cell(predictions: pd.DataFrame, true: str, pred: str) -> pd.DataFrame:
    """The samples of one confusion-matrix cell."""
    hit = (predictions["true_label"].astype(str) == true) & (predictions["pred_label"].astype(str) == pred)
    return predictions[hit]


def _data_root(config: dict) -> Path | None:
    root = config.get("root") or config.get("data_root") or config.get("dataset_root")
    if not root:
        return None
    root = Path(root)
    if root.is_absolute():
        return root if root.is_dir() else None

    # Runs record the folder as given on the command line, usually relative to where training ran.
    for base in (Path.cwd(), REPO_ROOT):
        if (base / root).is_dir():
            return base / root
    return None


def apex_frames(config: dict) -> dict[tuple[str, str], Path]:
    """The apex frame of every clip of the run's dataset(s), keyed by ``(subject, clip)`` as the predictions
    write them (``samm/006`` in a composite), when the dataset folders are on this machine; empty otherwise."""
    sources = dict(config.get("data") or {})
    if not sources and config.get("dataset"):
        sources = {str(config["dataset"]): config.get("root") or config.get("data_root") or config.get("dataset_root")}
    composite = len(sources) > 1
    found: dict[tuple[str, str], Path] = {}
    for name, folder in sources.items():
        root = _data_root({"root": folder})
        if root is None:
            continue
        try:
            records = load_dataset(str(name), root)
        except (LarnetError, ValueError):
            continue
        for record in records:
            subject = f"{name}/{record.subject}" if composite else record.subject
            found[(subject, record.clip)] = record.apex_frame
    return found


def thumbnail_path(row: pd.Series, apexes: dict[tuple[str, str], Path]) -> Path | None:
    """An image of a sample (its clip's apex frame, or a frame path in the row) when it is on this machine."""
    found = apexes.get((str(row.get("subject", "")), str(row.get("clip", ""))))
    if found is not None and found.is_file():
        return found
    for column in ("apex_path", "path", "frame"):
        value = row.get(column)
        if isinstance(value, str) and Path(value).suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp") \
                and Path(value).is_file():
            return Path(value)
    return None
