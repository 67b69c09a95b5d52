"""``larnet spot-eval`` and ``larnet str-eval``: expression spotting on long videos scored as MEGC scores it
(per-type one-to-one matching at IoU >= 0.5), and spot-then-recognise (MEGC 2023's STRS) from the same run.

Each video is analysed with ``larnet analyze``'s options (:func:`~larnet_core.cli._options.add_analysis_arguments`),
read into one :class:`~larnet_core.video.settings.AnalysisSettings`; the scoring's own options (``--k``,
``--loso``, ``--iou``) make one :class:`~larnet_core.training.spotting_eval.SpotEvalOptions`. The summary JSON
records both, and the model, so a score can be reproduced."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from larnet_core.cli._options import add_analysis_arguments
from larnet_core.data import load_dataset
from larnet_core.devices import resolve_device
from larnet_core.errors import LarnetError
from larnet_core.inference import Predictor
from larnet_core.paths import check_output_file, demo_checkpoint_path
from larnet_core.result import model_provenance
from larnet_core.training.spotting_eval import SPOT_EVAL_INFER_FPS, SpotEvalOptions, evaluate_spotting, with_dataset_fps
from larnet_core.training.spotting_scores import str_class
from larnet_core.video.settings import AnalysisSettings

DATASET_ALIASES = {
    "casme2-long": "casme2-long", "cas(me)2": "casme2-long", "casme-sq": "casme2-long",
    "samm-lv": "samm-lv", "samm-long": "samm-lv", "sammlv": "samm-lv",
    "casme3-long": "casme3-long", "cas(me)3-long": "casme3-long",
}


def register(subparsers) -> None:
    spot = subparsers.add_parser(
        "spot-eval", help="score expression spotting on long videos (CAS(ME)^2, SAMM-LV, CAS(ME)^3) as MEGC does",
        description="Runs the training-free optical-flow spotting baseline on every long video of a dataset and "
                    "reports precision, recall and F1 per expression type and overall (MEGC: a spotted interval "
                    "hits an annotated one of the same type at IoU >= 0.5, one-to-one, as many hits as possible; "
                    "TP, FP and FN summed over the videos). Each video is analysed as `larnet analyze` analyses "
                    "it with the same options; never tune them (--threshold-p above all) on the set you report.",
    )
    _arguments(spot)
    spot.add_argument("--recognise", "--recognize", action="store_true",
                      help="also score spot-then-recognise (MEGC 2023 STRS), as `larnet str-eval` does")
    spot.set_defaults(func=_run)
    rec = subparsers.add_parser(
        "str-eval", help="spot-then-recognise score (MEGC 2023 STRS) on long videos",
        description="Spots as `larnet spot-eval` does, labels every spotted interval with the model, and reports "
                    "STRS = spotting F1 x analysis F1 (Liong, See and Chan 2023; MEGC 2023's STR task): the "
                    "analysis F1 is taken over the hits only, from class-averaged precision and recall.",
    )
    _arguments(rec)
    rec.add_argument("--types", nargs="+", choices=("micro", "macro"), default=["micro"],
                     help="expression types scored (default micro, as MEGC 2023 STR)")
    rec.add_argument("--classes", choices=("str4", "as-written"), default="str4",
                     help="str4: negative / positive / surprise / others (MEGC 2023 STR); as-written: the model's "
                          "and the annotation's names unchanged")
    rec.set_defaults(func=_run, recognise=True)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="casme2-long", choices=sorted(DATASET_ALIASES),
                        help="dataset layout: casme2-long (CAS(ME)^2; `larnet synth OUT --long` writes it), samm-lv "
                             "(SAMM long videos), casme3-long (CAS(ME)^3 part A recordings)")
    parser.add_argument("--root", required=True, help="dataset folder (docs/datasets.md gives each layout)")
    parser.add_argument("--checkpoint", help="the model whose analysis pipeline is scored (it labels intervals; "
                        "spotting itself uses only facial motion). Default: the bundled demo model")
    parser.add_argument("--iou", type=float, default=0.5, help="IoU a spotted interval needs to count as a hit")
    parser.add_argument("--k", default="fixed",
                        help="frames between a frame and its motion references, per type: fixed (default: the "
                             "settings `larnet analyze` uses, 0.3 s and 1.0 s, so the figure scores what users "
                             "see), auto (as the MEGC baselines: half the average annotated length of each type) "
                             "or MICRO,MACRO frames (e.g. 6,18)")
    parser.add_argument("--loso", action="store_true",
                        help="with --k auto: each subject's k from the OTHER subjects' annotations only")
    parser.add_argument("--out", help="write per-video results (.csv) here, every spotted interval "
                        "(<stem>.intervals.csv), every annotated one (<stem>.truth.csv) and the summary (.json)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N videos")
    add_analysis_arguments(parser, fps_default="the dataset's: CAS(ME)^2 30, SAMM-LV 200, CAS(ME)^3 30",
                           max_infer_fps=SPOT_EVAL_INFER_FPS)


def parse_k(text: str) -> str | tuple[int, int]:
    """``auto``, ``fixed`` or ``MICRO,MACRO`` frames."""
    value = text.strip().lower()
    if value in ("auto", "fixed"):
        return value
    parts = value.split(",")
    try:
        micro, macro = (int(p) for p in parts)
    except ValueError:
        raise LarnetError(f"--k must be auto, fixed or two frame counts like 6,18; got {text!r}") from None
    return micro, macro  # SpotEvalOptions checks them


def _run(args: argparse.Namespace) -> int:
    options = SpotEvalOptions(k=parse_k(args.k), loso=args.loso, iou=args.iou)
    name = DATASET_ALIASES[args.dataset]
    settings = with_dataset_fps(AnalysisSettings.from_args(args), name)
    if args.out:
        check_output_file(args.out, "--out")
    records = load_dataset(name, args.root)
    if args.limit:
        records = records[: args.limit]
    if not records:
        raise LarnetError(f"no long videos found under {args.root}; check --root")
    predictor = _predictor(args.checkpoint, args.device, settings.backend)
    with tqdm(total=len(records), unit="video", desc="spot") as bar:
        def progress(done: int, total: int, video: str) -> None:
            bar.update(done - bar.n)
            bar.set_postfix_str(video)

        result = evaluate_spotting(records, predictor, settings, options, progress=progress)
    overall = result.scores.overall
    print(f"{len(records)} videos, {overall.ground_truth} annotated intervals, {overall.spotted} spotted "
          f"(k: {result.k}; micro/macro frames per video in the .csv)")
    for label, scores in (("overall", overall), ("micro", result.micro), ("macro", result.macro)):
        print(f"{label:8s} TP {scores.true_positives:4d}  FP {scores.false_positives:4d}  "
              f"FN {scores.false_negatives:4d}  precision {scores.precision:.3f}  recall {scores.recall:.3f}  "
              f"F1 {scores.f1:.3f}")
    summary = _reproducible(result.to_dict(), args, name, predictor)
    if args.recognise:
        types = getattr(args, "types", ["micro"])
        classes = str_class if getattr(args, "classes", "str4") == "str4" else None
        strs = result.str_scores(classes=classes, types=types)
        summary["str"] = {**strs.to_dict(), "types": list(types)}
        print(f"STR ({'+'.join(types)}): spotting F1 {strs.spotting.f1:.3f}  analysis F1 {strs.analysis_f1:.3f} "
              f"(UF1 {strs.analysis_uf1:.3f}, UAR {strs.analysis_uar:.3f}, {len(strs.hits)} hits)  "
              f"STRS {strs.strs:.3f}")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        result.per_video.to_csv(out, index=False)
        intervals = out.with_name(f"{out.stem}.intervals.csv")
        truth = out.with_name(f"{out.stem}.truth.csv")
        result.intervals.to_csv(intervals, index=False)
        result.truth.to_csv(truth, index=False)
        out.with_suffix(".json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        print(f"wrote {out}, {intervals} (every spotted interval, with hit), {truth} and {out.with_suffix('.json')}")
    return 0


def _reproducible(summary: dict, args: argparse.Namespace, dataset: str, predictor) -> dict:
    """The summary with what else a rerun needs: the dataset, its folder, the video limit and the model."""
    return {**summary, "dataset": dataset, "root": str(args.root), "limit": args.limit,
            "model": model_provenance(predictor)}


def _predictor(checkpoint: str | None, device: str = "auto", backend: str = "auto"):
    # lazy: torch only when the command runs (`larnet --help` imports every command module)
    from larnet_core.models import load_checkpoint

    return Predictor(load_checkpoint(checkpoint or demo_checkpoint_path(), device=resolve_device(device)),
                     backend=backend)
