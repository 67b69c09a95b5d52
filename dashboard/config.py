"""Where the dashboard finds its model, runs and samples, and how the live page reaches the browser.

Every location has a bundled default under ``assets/`` and an environment variable that overrides it, so a
deployment (or a test) can point the app elsewhere without code changes.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from larnet_core.errors import LarnetError

__all__ = [
    "REPO_ROOT",
    "ASSETS_DIR",
    "DEMO_CHECKPOINT",
    "DEMO_RUN",
    "SAMPLES_DIR",
    "DEFAULT_CHECKPOINT_ENV",
    "RUNS_DIR_ENV",
    "BATCHES_DIR_ENV",
    "RTC_CONFIGURATION_ENV",
    "default_checkpoint",
    "runs_dir",
    "batches_dir",
    "sample_clips",
    "sample_truth",
    "rtc_configuration",
]

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
DEMO_CHECKPOINT = ASSETS_DIR / "models" / "larnet-lite-demo.pt"
DEMO_RUN = ASSETS_DIR / "runs" / "larnet-lite-demo"
SAMPLES_DIR = ASSETS_DIR / "samples"

DEFAULT_CHECKPOINT_ENV = "LARNET_DEFAULT_CHECKPOINT"
RUNS_DIR_ENV = "LARNET_RUNS_DIR"
BATCHES_DIR_ENV = "LARNET_BATCHES_DIR"
RTC_CONFIGURATION_ENV = "LARNET_RTC_CONFIGURATION"

_VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
# No STUN/TURN: works between a browser and the app on the same machine with no network. An empty dict would
# make streamlit-webrtc fall back to a public STUN server.
_OFFLINE_RTC: dict[str, Any] = {"iceServers": []}


def default_checkpoint() -> Path:
    """The model the app opens with: ``$LARNET_DEFAULT_CHECKPOINT``, else the bundled demo checkpoint."""
    configured = os.environ.get(DEFAULT_CHECKPOINT_ENV, "").strip()
    return Path(configured).expanduser() if configured else DEMO_CHECKPOINT


def runs_dir() -> Path:
    """The folder searched for run directories: ``$LARNET_RUNS_DIR``, else ``runs/`` in the working directory."""
    configured = os.environ.get(RUNS_DIR_ENV, "").strip()
    return Path(configured).expanduser() if configured else Path.cwd() / "runs"


def batches_dir() -> Path:
    """The folder searched for batch outputs (``larnet batch --out``): ``$LARNET_BATCHES_DIR``, else ``batches/``
    in the working directory."""
    configured = os.environ.get(BATCHES_DIR_ENV, "").strip()
    return Path(configured).expanduser() if configured else Path.cwd() / "batches"


def sample_clips() -> list[Path]:
    """Bundled sample clips under ``assets/samples`` (empty when none are shipped)."""
    if not SAMPLES_DIR.is_dir():
        return []
    return sorted(p for p in SAMPLES_DIR.iterdir() if p.suffix.lower() in _VIDEO_SUFFIXES and p.is_file())


def sample_truth(clip: Path) -> dict[str, Any] | None:
    """The ground truth shipped beside a sample clip (``<name>.truth.json``), or None when there is none."""
    truth = clip.with_name(f"{clip.stem}.truth.json")
    try:
        value = json.loads(truth.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", truth, exc)
        return None
    return value if isinstance(value, dict) else None


def rtc_configuration(secrets: Any = None) -> dict[str, Any]:
    """The WebRTC configuration for the live page.

    ``$LARNET_RTC_CONFIGURATION`` (JSON) wins, then ``rtc_configuration`` in Streamlit secrets, else no ICE
    servers (offline, same machine). Deployments behind NAT set a TURN server here.

    Raises:
        LarnetError: when the environment variable is not a JSON object with an ``iceServers`` list.
    """
    raw = os.environ.get(RTC_CONFIGURATION_ENV, "").strip()
    if raw:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise LarnetError(f"{RTC_CONFIGURATION_ENV} is not valid JSON ({exc.msg}); use e.g. "
                              '{"iceServers": [{"urls": ["turn:host:3478"], "username": "u", "credential": "p"}]}'
                              ) from None
        if not isinstance(value, dict) or not isinstance(value.get("iceServers"), list):
            raise LarnetError(f'{RTC_CONFIGURATION_ENV} must be a JSON object with an "iceServers" list')
        return value
    if secrets is not None:
        try:
            configured = secrets.get("rtc_configuration")
        except Exception:  # no secrets.toml at all: Streamlit raises on access
            log.debug("no Streamlit secrets", exc_info=True)
            configured = None
        if configured:
            return {key: (list(value) if key == "iceServers" else value) for key, value in dict(configured).items()}
    return dict(_OFFLINE_RTC)
