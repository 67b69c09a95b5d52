# Settings shared by make-demo-model.sh and make-baseline-runs.sh, so the demo model and its baselines see the
# same synthetic set, split and inputs. Sourced, not run.
LARNET=${LARNET:-.venv/bin/larnet}
DATA=${DEMO_DATA:-build/demo-synth}
# A seed no earlier demo model used: synthetic subjects depend only on the seed and their number, so a reused
# seed would put an earlier model's test subjects into this one's training set (and the other way round).
SEED=2026
SYNTH_OPTIONS=(--subjects 40 --clips-per-class 3 --seed "$SEED" --size 140x170 --fps 100 --difficulty 0.5)
# The split: 10 held-out test subjects; 6 of the 30 others for validation.
SPLIT=(--dataset casme2 --root "$DATA" --labels casme2-7 --protocol holdout --test-fraction 0.25 --val-fraction 0.2
       --seed "$SEED" --synthetic)
# Inputs: onset -> apex flow of the face aligned on the clip-analysis road (MediaPipe key points), Farneback flow
# as clip and live analysis compute it per frame.
FLOW=${FLOW:-farneback}
INPUTS=(--sample-mode flow --flow "$FLOW" --face auto)
# The recipe: fixed schedule, last iteration kept; no epoch or checkpoint chosen on any score.
RECIPE=(--eval-every 50 --iterations 700 --batch-size 32 --lr 0.02 --warmup 25 --lr-schedule cosine --threads 2
        --workers 1)
