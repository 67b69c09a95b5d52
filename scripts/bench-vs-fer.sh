#!/usr/bin/env bash
# `larnet analyze` against the FER package (PyPI `fer`) on the same clip in the same run; figures in
# docs/performance.md. Usage: scripts/bench-vs-fer.sh [--quick] [--frames N --width W --height H --fps F --runs R]
#
# FER needs TensorFlow, which the project's environment does not carry, so it gets its own virtualenv,
# build/fer-venv (created once, about 1.2 GB). Only what FER's video path imports is installed:
#   - fer itself with --no-deps: its declared dependencies include facenet-pytorch, which pins an old torch
#     (another ~1 GB) and is only imported for FER(mtcnn=True); the benchmark uses FER's default Haar cascade.
#   - tensorflow-cpu instead of `tensorflow` (same code, no GPU libraries); FER runs its shipped TFLite model
#     through tf.lite.
#   - setuptools<81: fer imports pkg_resources to find its model files.
#   - matplotlib (declared, never imported by fer) is left out.
# FER's model files (emotion_model_quantized.tflite, emotion_model.hdf5) ship inside its wheel and the Haar cascade
# inside OpenCV's, so nothing is downloaded when it runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# The benchmark driver needs larnet_core (clip generator): the interpreter of the environment larnet runs in.
# Either may be given; the other is found beside it. Both honour PYTHONPATH (a checkout's code comes first).
if [ -z "${LARNET:-}" ] && [ -n "${LARNET_PY:-}" ]; then
  LARNET=$(dirname "$LARNET_PY")/larnet
fi
LARNET=${LARNET:-.venv/bin/larnet}
LARNET_PY=${LARNET_PY:-$(dirname "$(command -v "$LARNET" || echo "$LARNET")")/python}
PYTHON=${PYTHON:-python3}
FER_VENV=${FER_VENV:-build/fer-venv}
# OpenCV: the release the project environment has (FER decodes and detects with it; larnet decodes with PyAV).
FER_PACKAGES=(tensorflow-cpu==2.21.0 opencv-contrib-python==4.14.0.94 pandas requests "tqdm>=4.62.1"
              moviepy==1.0.3 "ffmpeg-python>=0.2.0" Pillow "setuptools<81")
FER_PIN=fer==25.10.3
STAMP="$FER_VENV/.bench-ready"
WANT="$FER_PIN ${FER_PACKAGES[*]}"

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "creating $FER_VENV ($FER_PIN, ${FER_PACKAGES[0]}) ..." >&2
  start=$(date +%s)
  rm -rf "$FER_VENV"
  "$PYTHON" -m venv "$FER_VENV"
  "$FER_VENV/bin/pip" install -q --disable-pip-version-check "${FER_PACKAGES[@]}"
  "$FER_VENV/bin/pip" install -q --disable-pip-version-check --no-deps "$FER_PIN"
  "$FER_VENV/bin/python" -c "import fer.classes, fer.fer, tensorflow" >/dev/null 2>&1 || {
    echo "error: $FER_VENV was installed but 'import fer' fails;" \
         "run $FER_VENV/bin/python -c 'import fer.fer' to see why" >&2
    exit 1
  }
  echo "$WANT" > "$STAMP"
  echo "created $FER_VENV in $(( $(date +%s) - start )) s, $(du -sh "$FER_VENV" | cut -f1)" >&2
fi

exec "$LARNET_PY" scripts/bench_vs_fer.py --larnet "$LARNET" --fer-python "$FER_VENV/bin/python" "$@"
