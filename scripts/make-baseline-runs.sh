#!/usr/bin/env bash
# Train and score the baselines of docs/results.md on the demo model's data and split, with the same recipe:
# a plain ResNet-18, LBP-TOP + SVM, the field's small flow networks STSTNet and OFF-ApexNet (at their papers'
# 28 px input) and, on request, the paper's full LARNet wiring. Writes assets/runs/baselines/<model>/
# (their checkpoints go to build/baseline-models/, not shipped: ResNet-18 alone is 22 MB in float16).
# Flow samples use the demo model's estimator (FLOW, default farneback) so every run sees the same inputs.
# Run `make demo-model` (or scripts/make-demo-model.sh) first: it generates the synthetic set used here.
# Usage: [TRAIN_SEEDS="2026 1 2"] scripts/make-baseline-runs.sh [larnet] [larnet-lite] [resnet18] [lbptop-svm]
#        [ststnet[@SIZE]] [off-apexnet[@SIZE]]
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
# A model may carry an input size (ststnet@112: STSTNet at 112 px, beside its native 28 px) so that the small flow
# networks are also compared at the larger networks' input size. TRAIN_SEEDS (default: the demo seed) trains each
# model once per seed on the SAME split (--split-seed): 2026 writes <name>/, any other seed <name>-s<seed>/.
TRAIN_SEEDS=(${TRAIN_SEEDS:-$SEED})
for spec in "${MODELS[@]}"; do
    model=${spec%@*}
    size=${spec#*@}
    [ "$size" != "$spec" ] || size=""
    for seed in "${TRAIN_SEEDS[@]}"; do
        name=$model
        case "$model" in
            larnet|resnet18|larnet-lite) native=112 ;;
            ststnet|off-apexnet) native=28 ;;
            lbptop-svm) native="" ;;
            *)
                echo "unknown baseline $model; use larnet, larnet-lite, resnet18, lbptop-svm, ststnet or off-apexnet" >&2
                exit 2
                ;;
        esac
        size=${size:-$native}
        [ -z "$native" ] || [ "$size" = "$native" ] || name="$name-$size"
        [ "$seed" = "$SEED" ] || name="$name-s$seed"
        if [ "$model" = lbptop-svm ]; then
            "$LARNET" train "${SPLIT[@]}" --split-seed "$SEED" --seed "$seed" --model lbptop-svm --name "$name" \
                --out "assets/runs/baselines/$name" --no-progress
        else
            "$LARNET" train "${SPLIT[@]}" --split-seed "$SEED" --seed "$seed" --model "$model" "${INPUTS[@]}" \
                --input-size "$size" "${RECIPE[@]}" --name "$name" --out "assets/runs/baselines/$name" \
                --checkpoint-to "build/baseline-models/$name.pt"
        fi
    done
done
