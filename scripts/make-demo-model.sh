#!/usr/bin/env bash
# Rebuild the shipped demo model (assets/models/larnet-lite-demo.pt) and its evaluation run
# (assets/runs/larnet-lite-demo/) from a freshly generated SYNTHETIC set. Run through `make demo-model`.
#
# Data: 40 synthetic subjects x 3 clips of each of the 7 CASME II emotions (840 clips), CASME II layout,
# generator difficulty 0.5, seed 2026 (scripts/demo-settings.sh). Protocol: hold-out by subject: 10 test subjects;
# 6 of the 30 training subjects are kept for validation. Inputs: the face aligned on the clip-analysis road
# (MediaPipe key points), onset->apex Farneback flow at 112 px, the estimator clip and live analysis compute per
# frame. The schedule is fixed: the last iteration's weights are shipped (float16, ~5 MB); no epoch or checkpoint
# is picked on any score (docs/results.md). About 20-25 minutes on two idle CPU cores, about 40 when they are busy.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/demo-settings.sh

"$LARNET" synth "$DATA" "${SYNTH_OPTIONS[@]}" --overwrite

"$LARNET" train "${SPLIT[@]}" --model larnet-lite "${INPUTS[@]}" --input-size 112 "${RECIPE[@]}" \
    --half --name larnet-lite-demo \
    --training-data "SYNTHETIC faces only: larnet_core.synth CASME II-style set (larnet synth ${SYNTH_OPTIONS[*]}), 24 training subjects; no real person" \
    --out assets/runs/larnet-lite-demo --checkpoint-to assets/models/larnet-lite-demo.pt

echo "demo model: assets/models/larnet-lite-demo.pt ($(du -h assets/models/larnet-lite-demo.pt | cut -f1))"
