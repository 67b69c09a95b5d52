"""``larnet compare RUN_DIR...``: one table of several runs' scores, printed and saved."""

from __future__ import annotations

import argparse
from pathlib import Path

from larnet_core.paths import check_output_file


def register(subparsers) -> None:
    p = subparsers.add_parser("compare", help="print and save one table comparing run directories")
    p.add_argument("run_dirs", nargs="+", help="run directories written by `larnet train` / `larnet evaluate`")
    p.add_argument("--out", default="compare.csv",
                   help="table file to write: .csv, or .md for a Markdown table (default compare.csv)")
    p.add_argument("--by-seed", action="store_true",
                   help="also print one row per model and input size: mean, spread and range of UF1/UAR over its "
                        "runs (training seeds), saved beside --out as <stem>.seeds.<ext>")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # lazy: scikit-learn only when the command runs (`larnet --help` imports every command module)
    from larnet_core.training.compare import compare_runs, seed_summary, to_markdown

    check_output_file(args.out, "--out")
    table = compare_runs(args.run_dirs)
    text = table.to_string(index=False, float_format=lambda v: f"{v:.3f}")
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".md":
        out.write_text(to_markdown(table), encoding="utf-8")
    else:
        table.to_csv(out, index=False, float_format="%.4f")
    print(f"saved {out}")
    if args.by_seed:
        seeds = seed_summary(table)
        print(seeds.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        seeds_out = out.with_name(f"{out.stem}.seeds{out.suffix}")
        if out.suffix.lower() == ".md":
            seeds_out.write_text(to_markdown(seeds), encoding="utf-8")
        else:
            seeds.to_csv(seeds_out, index=False, float_format="%.4f")
        print(f"saved {seeds_out}")
    return 0
