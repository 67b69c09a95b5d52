"""The ONNX cache: a checkpoint's ONNX export and what loading it found, so CPU inference starts without PyTorch.

The first CPU inference of a checkpoint loads it with torch (:func:`~larnet_core.models.load_checkpoint`: safe
loading, card checks, weights compared with the network, a forward pass), exports the network to ONNX (seconds)
and writes two files under ``cache/onnx`` of the data folder:

* the export, ``<sha256>-torch<version>-<package version>.onnx``;
* an entry, ``<sha256>-<package version>.json``, keyed by the checkpoint file's SHA-256 and the package version:
  the checked card, the checks that passed, and the export's file name and SHA-256.

A later start hashes the checkpoint file, reads the entry and the export, and runs ONNX Runtime with no torch
import (about 2 s of a start). The cache is the user's own, yet an entry is read as a file from elsewhere: it
must name this very file (full SHA-256) and this package version, its card passes the same field checks as a
checkpoint's card, and the export must have the SHA-256 the entry recorded. An entry that fails any of this is
ignored with a log line, and the checkpoint goes the torch way again, which writes a new entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from larnet_core import __version__
from larnet_core.errors import LarnetError
from larnet_core.models.card import CHECKPOINT_ZIP_LIMITS, ModelCard
from larnet_core.models.card_checks import card_from_untrusted
from larnet_core.paths import cache_dir, read_input, write_atomic

if TYPE_CHECKING:
    from larnet_core.models.checkpoint import LoadedModel

__all__ = ["InferenceModel", "entry_path", "export_path", "read_cached", "remember"]

log = logging.getLogger(__name__)

ENTRY_FORMAT = "larnet-onnx-entry"
ENTRY_VERSION = 1
#: What loading the checkpoint with torch checked before its export was cached (recorded in each entry; an entry
#: listing other checks was written under other rules and is not used).
CHECKS = ("safe load (weights only)", "card fields", "weights match the network", "weights are finite",
          "one score per class")
# A card holds at most about 1.4 MB of text (notes, training data, 10,000 subject names).
_MAX_ENTRY_BYTES = 4 * 1024**2
# An export holds the weights as float32: no larger than the checkpoint's own limit.
_MAX_EXPORT_BYTES = CHECKPOINT_ZIP_LIMITS.max_archive_bytes


@dataclass
class InferenceModel:
    """A checkpoint ready for inference, from either road: its checked card, the file it came from, and the
    network as PyTorch (``loaded``: when torch loaded the file) and/or as ONNX (``onnx``: the export's bytes,
    read from the cache without torch, or made from ``loaded``).

    :class:`~larnet_core.inference.Predictor` runs either; explanations, training and CUDA need ``loaded``
    (load those with :func:`~larnet_core.models.load_checkpoint`).
    """

    card: ModelCard
    path: Path | None = None
    sha256: str = ""
    loaded: LoadedModel | None = None
    onnx: bytes | None = None

    @classmethod
    def from_loaded(cls, loaded: LoadedModel) -> "InferenceModel":
        return cls(card=loaded.card, path=loaded.path, sha256=loaded.sha256, loaded=loaded)


def export_path(sha256: str, torch_version: str) -> Path:
    """Where the ONNX export of the checkpoint with this SHA-256, made by this torch, is cached (a new torch or
    package version exports anew: a changed exporter never reuses an old graph)."""
    return cache_dir("onnx") / f"{sha256[:32]}-torch{torch_version}-{__version__}.onnx"


def entry_path(sha256: str) -> Path:
    """The cache entry of the checkpoint file with this SHA-256 (for this package version)."""
    return cache_dir("onnx") / f"{sha256[:32]}-{__version__}.json"


def read_cached(path: Path, sha256: str) -> InferenceModel | None:
    """The checkpoint file ``path`` (of SHA-256 ``sha256``) as its card and ONNX export, from the cache; None when
    there is no entry yet or it cannot be used (then it is logged and the caller loads the file with torch)."""
    entry = entry_path(sha256)
    if not entry.is_file():
        return None
    try:
        data = json.loads(read_input(entry, f"ONNX cache entry {entry}", max_bytes=_MAX_ENTRY_BYTES))
        return _from_entry(data, path, sha256)
    except (LarnetError, OSError, ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        log.warning("ignoring the ONNX cache entry %s (%s); loading the checkpoint with PyTorch to rebuild it",
                    entry, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return None


def _from_entry(data: Any, path: Path, sha256: str) -> InferenceModel:
    if not isinstance(data, dict) or data.get("format") != ENTRY_FORMAT or data.get("format_version") != ENTRY_VERSION:
        raise ValueError("not a cache entry of this format")
    if data.get("checkpoint_sha256") != sha256:
        raise ValueError("it describes another checkpoint file")
    if data.get("package_version") != __version__:
        raise ValueError(f"written by LARNet Studio {str(data.get('package_version'))[:40]}")
    if data.get("checks") != list(CHECKS):
        raise ValueError("written under other load checks")
    card = ModelCard(**card_from_untrusted(data.get("card")))
    name = data.get("onnx_file")
    # A bare file name inside the cache folder, never a path elsewhere.
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(".onnx") or name.startswith("."):
        raise ValueError("it names no export file in the cache folder")
    export = cache_dir("onnx") / name
    onnx = read_input(export, f"ONNX export {export}", max_bytes=_MAX_EXPORT_BYTES)
    if hashlib.sha256(onnx).hexdigest() != data.get("onnx_sha256"):
        raise ValueError(f"the export {name} is not the one the entry recorded (changed or damaged)")
    return InferenceModel(card=card, path=path, sha256=sha256, onnx=onnx)


def remember(model: InferenceModel, export: Path) -> None:
    """Write the entry for ``model``, loaded from its file by torch and exported to ``export`` (whose bytes are
    ``model.onnx``), atomically. Only a checkpoint that :func:`~larnet_core.models.load_checkpoint` read (it has a
    path and a SHA-256) gets one; a cache folder that cannot be written costs only the next start's torch import."""
    if model.loaded is None or model.onnx is None or not model.sha256 or model.path is None:
        return
    entry = {
        "format": ENTRY_FORMAT, "format_version": ENTRY_VERSION,
        "checkpoint_sha256": model.sha256, "package_version": __version__, "checks": list(CHECKS),
        "card": model.card.to_dict(),
        "onnx_file": export.name, "onnx_sha256": hashlib.sha256(model.onnx).hexdigest(),
    }
    target = entry_path(model.sha256)
    try:
        write_atomic(target, json.dumps(entry, indent=1).encode("utf-8"))
    except OSError as exc:
        log.info("could not write the ONNX cache entry %s: %s", target, exc)
