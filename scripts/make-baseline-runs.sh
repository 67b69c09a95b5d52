#!/usr/bin/env bash
# Train and score the baselines of docs/results.md on the demo model's data and split, with the same recipe:
# a plain ResNet-18, LBP-TOP + SVM, the field's small flow networks STSTNet and OFF-ApexNet (at their papers'
# 28 px input) and, on request, the paper's full LARNet wiring. Writes assets/runs/baselines/<model>/
# (their checkpoints go to build/baseline-models/, not shipped: ResNet-18 alone is 22 MB in float16).
# Flow samples use the demo model's estimator (FLOW, default farneback) so every run sees the same inputs.
# Run `make demo-model` (or scripts/make-demo-model.sh) first: it generates the synthetic set used here.
# Usage: scripts/make-baseline-runs.sh [larnet] [resnet18] [lbptop-svm] [ststnet] [off-apexnet]
#        (default: resnet18 lbptop-svm ststnet off-apexnet; larnet, the paper's full wiring, takes hours at 112 px
#        on two CPU cores: ask for it by name)
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/demo-settings.sh
MODELS=("$@")
[ ${#MODELS[@]} -gt 0 ] || MODELS=(resnet18 lbptop-svm ststnet off-apexnet)

if [ ! -f "$DATA/CASME2-coding-20190701.xlsx" ]; then
    echo "no synthetic set in $DATA: run scripts/make-demo-model.sh first" >&2
    exit 2
fi
for model in "${MODELS[@]}"; do
    case "$model" in
        larnet|resnet18)
            "$LARNET" train "${SPLIT[@]}" --model "$model" "${INPUTS[@]}" --input-size 112 "${RECIPE[@]}" \
                --name "$model" --out "assets/runs/baselines/$model" --checkpoint-to "build/baseline-models/$model.pt"
            ;;
        ststnet|off-apexnet)
            "$LARNET" train "${SPLIT[@]}" --model "$model" "${INPUTS[@]}" --input-size 28 "${RECIPE[@]}" \
                --name "$model" --out "assets/runs/baselines/$model" --checkpoint-to "build/baseline-models/$model.pt"
            ;;
        lbptop-svm)
            "$LARNET" train "${SPLIT[@]}" --model lbptop-svm --name lbptop-svm --out assets/runs/baselines/lbptop-svm \
                --no-progress
            ;;
        *)
            echo "unknown baseline $model; use larnet, resnet18, lbptop-svm, ststnet or off-apexnet" >&2
            exit 2
            ;;
    esac
done
