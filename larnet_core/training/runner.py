"""``train``: from a TrainConfig to a complete run directory (hold-out or leave-one-subject-out)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import torch

from larnet_core.data import expand_samples
from larnet_core.devices import resolve_device
from larnet_core.errors import LarnetError
from larnet_core.models import ModelCard, model_config, save_checkpoint
from larnet_core.runs import read_predictions
from larnet_core.training.baselines.lbptop_svm import train_lbptop_svm
from larnet_core.training.config import TrainConfig
from larnet_core.training.data import SampleSet, channel_stats, load_sample_images
from larnet_core.training.distributed import DistInfo, init_distributed, shutdown_distributed
from larnet_core.training.loop import StepCallback, fit, predict_proba
from larnet_core.training.protocol import (PartPlan, command_line, data_facts, is_synthetic_sources, load_sources,
                                           plan_parts, predictions_table, qualify_subjects, score_predictions,
                                           write_scored_run)

__all__ = ["train", "predictions_table", "PartPlan", "plan_parts", "resolve_input_size", "qualified_subjects"]

log = logging.getLogger(__name__)


def resolve_input_size(config: TrainConfig) -> int:
    if config.input_size:
        return int(config.input_size)
    try:
        return model_config(config.model).input_size
    except ValueError as exc:
        raise LarnetError(f"{exc}, or lbptop-svm") from None


def qualified_subjects(subjects: Sequence[str], samples: pd.DataFrame) -> list[str]:
    """Subjects written ``dataset/subject`` (as a model card records them), whatever the run's namespacing."""
    dataset_of = dict(zip(samples["subject"].astype(str), samples["dataset"].astype(str)))
    return sorted(s if "/" in s else f"{dataset_of.get(s, '')}/{s}" for s in subjects)


def _training_data_text(config: TrainConfig, synthetic: bool, n_clips: int, n_subjects: int) -> str:
    if config.training_data:
        return config.training_data
    kind = "SYNTHETIC (generated faces, no real person) " if synthetic else ""
    where = ", ".join(f"{name} at {root}" for name, root in config.sources())
    return (f"{kind}{config.dataset_label} ({where}): {n_clips} clips, {n_subjects} subjects, "
            f"labels {config.labels}, {config.protocol} protocol")


def _make_card(config: TrainConfig, classes: Sequence[str], size: int, mean, std, synthetic: bool,
               training_data: str, training_subjects: Sequence[str]) -> ModelCard:
    return ModelCard(
        preset=config.model, class_names=list(classes), input_size=size, mean=mean, std=std,
        attention=config.attention, residual=not config.naive_attention, in_channels=3,
        sample_mode=config.sample_mode, flow=config.flow if config.sample_mode == "flow" else "",
        face="" if config.face == "none" else config.face,
        label_scheme=config.labels, training_data=training_data, training_subjects=list(training_subjects),
        synthetic=synthetic, notes=command_line() or "larnet_core.training.train",
    )


def _check_model(config: TrainConfig) -> None:
    try:
        cfg = model_config(config.model)
    except ValueError as exc:
        raise LarnetError(f"{exc}, or lbptop-svm") from None
    if config.naive_attention and not cfg.has_attention:
        raise LarnetError(f"--naive-attention changes how attention modules combine mask and trunk; model "
                          f"{config.model} has none. Use it with larnet, larnet-lite, attention56/92 or emoresnet")


def _train_part(plan: PartPlan, data: SampleSet, config: TrainConfig, classes: Sequence[str], size: int,
                synthetic: bool, training_data: str, dist_info: DistInfo, out: Path, resume: bool,
                on_step: StepCallback | None, progress: bool):
    train_set = data.subset(plan.train)
    val_set = data.subset(plan.val) if plan.val else None
    mean, std = channel_stats(train_set.images)
    # Validation subjects choose the weights, so they count as seen by the model too.
    seen = qualified_subjects(plan.train_subjects + plan.val_subjects, data.samples)
    card = _make_card(config, classes, size, mean, std, synthetic, training_data, seen)
    torch.manual_seed(config.seed)
    model = card.build()
    result = fit(model, card, train_set, config, dist_info, fold=plan.name, val=val_set,
                 state_path=out / "last.pt", resume=resume, on_step=on_step, progress=progress)
    test_set = data.subset(plan.test)
    probs = predict_proba(result.model, test_set.images, card.mean, card.std, dist_info.device, config.batch_size)
    return result, card, predictions_table(test_set.samples, probs, classes, plan.name)


def train(config: TrainConfig, *, resume: bool = False, on_step: StepCallback | None = None, progress: bool = True,
          checkpoint_to: str | Path | None = None) -> Path:
    """Train and evaluate under ``config.protocol`` and write the run directory ``config.out``.

    Args:
        config: the run's settings.
        resume: continue an interrupted run from ``last.pt`` and the finished folds in ``config.out``.
        on_step: called after every optimiser step with the iteration number.
        progress: tqdm bars on stderr.
        checkpoint_to: write the hold-out model here instead of ``<out>/model.pt`` (config.json points at it).

    Returns:
        The run directory.

    Raises:
        LarnetError: bad data or options (message says which and what to do).
    """
    if config.model == "lbptop-svm":
        return train_lbptop_svm(config, progress=progress)
    _check_model(config)
    started = time.perf_counter()
    if config.threads:
        torch.set_num_threads(int(config.threads))
    dist_info = init_distributed(resolve_device(config.device))
    out = Path(config.out)
    try:
        if dist_info.is_main:
            out.mkdir(parents=True, exist_ok=True)
        sources = config.sources()
        records, classes = load_sources(sources, config.labels)
        samples = qualify_subjects(expand_samples(records, config.sample_mode))
        size = resolve_input_size(config)
        plans = plan_parts(samples, config)
        synthetic = is_synthetic_sources(sources) if config.synthetic is None else bool(config.synthetic)
        training_data = _training_data_text(config, synthetic, len(records), samples["subject"].nunique())
        data = load_sample_images(samples, config.sample_mode, size, classes, config.workers,
                                  progress=progress and dist_info.is_main, flow=config.flow,
                                  flow_cache=config.flow_cache, face=config.face)
        folds_dir = out / "folds"
        tables, histories, selected = [], [], {}
        card = None
        for plan in plans:
            done = folds_dir / plan.name
            if resume and config.protocol == "loso" and (done / "predictions.csv").exists():
                tables.append(read_predictions(done / "predictions.csv"))
                histories.append(pd.read_csv(done / "history.csv"))
                selected[plan.name] = json.loads((done / "selected.json").read_text())["iteration"]
                continue
            result, card, table = _train_part(plan, data, config, classes, size, synthetic, training_data,
                                              dist_info, out, resume, on_step, progress)
            tables.append(table)
            histories.append(pd.DataFrame(result.history))
            selected[plan.name] = result.selected_iteration
            if dist_info.is_main and config.protocol == "loso":
                done.mkdir(parents=True, exist_ok=True)
                table.to_csv(done / "predictions.csv", index=False)
                histories[-1].to_csv(done / "history.csv", index=False)
                (done / "selected.json").write_text(json.dumps({"iteration": result.selected_iteration}))
            if dist_info.is_main and config.protocol == "holdout":
                target = Path(checkpoint_to) if checkpoint_to else out / "model.pt"
                save_checkpoint(result.model, card, target, half=config.half)
        if not dist_info.is_main:
            return out
        predictions = pd.concat(tables, ignore_index=True)
        history = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
        scored = score_predictions(predictions, classes, label_scheme=config.labels, protocol=config.protocol,
                                   synthetic=synthetic, sample_mode=config.sample_mode, model=config.model,
                                   dataset=config.dataset_label)
        checkpoint = None
        if config.protocol == "holdout":
            target = Path(checkpoint_to) if checkpoint_to else out / "model.pt"
            checkpoint = Path(_relative(target, out)).as_posix()
        run_config = _run_config(config, plans, classes, size, synthetic, len(records), samples, selected,
                                 checkpoint, card, dist_info, time.perf_counter() - started)
        write_scored_run(out, run_config, scored, history)
        (out / "last.pt").unlink(missing_ok=True)
        if folds_dir.exists() and config.protocol == "loso":
            shutil.rmtree(folds_dir)
        return out
    finally:
        shutdown_distributed(dist_info)


def _relative(target: Path, start: Path) -> str:
    return os.path.relpath(target.resolve(), start.resolve())


def _run_config(config: TrainConfig, plans: list[PartPlan], classes, size: int, synthetic: bool, n_clips: int,
                samples: pd.DataFrame, selected: dict[str, int], checkpoint: str | None, card: ModelCard | None,
                dist_info: DistInfo, seconds: float) -> dict[str, Any]:
    return {
        "name": config.name or Path(config.out).name,
        "kind": "train",
        "command": command_line(),
        "model": config.model,
        **data_facts(config.sources(), samples, n_clips),
        "label_scheme": config.labels,
        "class_names": list(classes),
        "protocol": config.protocol,
        "sample_mode": config.sample_mode,
        "scoring": "clip",
        "flow": config.flow if config.sample_mode == "flow" else None,
        "naive_attention": config.naive_attention,
        "input_size": size,
        "synthetic": synthetic,
        "selection": config.select,
        "selected_iteration": selected,
        "parts": [{"name": p.name, "train_subjects": list(p.train_subjects), "val_subjects": list(p.val_subjects),
                   "test_subjects": list(p.test_subjects), "n_train": len(p.train), "n_val": len(p.val),
                   "n_test": len(p.test)} for p in plans],
        "checkpoint": checkpoint,
        "card": card.to_dict() if card is not None else None,
        "device": str(dist_info.device),
        "world_size": dist_info.world_size,
        "train_seconds": round(seconds, 1),
        "torch": torch.__version__,
        "config": config.to_dict(),
    }
