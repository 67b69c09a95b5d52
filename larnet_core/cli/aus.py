"""``larnet aus`` (action units of the faces in photos) and ``larnet au-eval`` (AU estimates against a dataset's
coded AUs)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from larnet_core.aus.evaluate import evaluate_units, image_paths, photo_table
from larnet_core.data import load_dataset
from larnet_core.errors import LarnetError
from larnet_core.face.mesh import MeshFaceDetector

_AU_DATASETS = ("casme2", "samm", "casme3")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "aus", help="FACS action-unit estimates of every face in photos (CSV)",
        description="Estimates the action units of every face in each image from its face mesh, against an "
                    "average face (a photo has no neutral frame of its own): the mean real face of the patterns "
                    "learned on real faces where they explain the difference, else the canonical face. Estimates "
                    "from geometry, not a certified FACS coder (docs/action-units.md).",
    )
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files or folders of images")
    parser.add_argument("--out", required=True, help="CSV to write: one row per face per image")
    parser.add_argument("--max-faces", type=int, default=4, help="most faces per image (default 4)")
    parser.set_defaults(func=_run_aus)

    evaluate = subparsers.add_parser(
        "au-eval", help="score the action-unit estimates against a dataset's coded AUs (per-AU F1)",
        description="Estimates the AUs of each sample at its apex against its onset frame and scores them "
                    "against the AUs the dataset codes: per-AU precision, recall and F1, micro and macro F1. "
                    "Thresholds were set on generated faces, never on the set scored.",
    )
    evaluate.add_argument("--dataset", required=True, choices=_AU_DATASETS, help="dataset layout")
    evaluate.add_argument("--root", required=True, help="dataset folder")
    evaluate.add_argument("--limit", type=int, help="score only the first N samples")
    evaluate.add_argument("--out", help="write per-AU scores (.csv), per-sample estimates (<stem>.samples.csv) and "
                          "the summary (.json) here")
    evaluate.set_defaults(func=_run_au_eval)


def _run_aus(args: argparse.Namespace) -> int:
    if args.max_faces < 1:
        raise LarnetError(f"--max-faces must be at least 1, got {args.max_faces}")
    out = Path(args.out)
    if out.suffix.lower() != ".csv":
        raise LarnetError(f"--out {out} should be a .csv file")
    paths = image_paths(args.inputs)
    table = photo_table(paths, MeshFaceDetector(max_faces=args.max_faces))
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.4f")
    faces = int((table["face_id"] >= 0).sum())
    print(f"{len(paths)} image(s), {faces} face(s) -> {out}")
    if faces < len(paths):
        print(f"no face found in {int((table['face_id'] < 0).sum())} image(s) (rows with face_id -1)")
    return 0


def _run_au_eval(args: argparse.Namespace) -> int:
    records = load_dataset(args.dataset, args.root)
    records = [r for r in records if getattr(r, "action_units", "")]
    if args.limit:
        records = records[: args.limit]
    if not records:
        raise LarnetError(f"no samples with coded action units under {args.root}; check --root and --dataset")
    result = evaluate_units(records)
    print(f"{len(result.per_sample)} samples scored ({result.skipped} without a face mesh)")
    for row in result.per_au.itertuples():
        print(f"{row.au}  support {row.support:4d}  predicted {row.predicted:4d}  precision {row.precision:.3f}  "
              f"recall {row.recall:.3f}  F1 {row.f1:.3f}")
    print(f"micro F1 {result.micro_f1:.3f}  macro F1 {result.macro_f1:.3f}")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        result.per_au.to_csv(out, index=False)
        result.per_sample.to_csv(out.with_name(f"{out.stem}.samples.csv"), index=False)
        out.with_suffix(".json").write_text(json.dumps(result.to_dict(), indent=2), encoding="utf-8")
        print(f"wrote {out}, {out.with_name(out.stem + '.samples.csv')} and {out.with_suffix('.json')}")
    return 0
