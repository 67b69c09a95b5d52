"""Checks on a model card read from a checkpoint file, which may come from a stranger.

A card is a recipe for building a network, so a hostile one can ask for a network of any size ("width": 4096),
an input of 60000 pixels, zero classes, or keywords the builders never expected. :func:`card_from_untrusted`
accepts only the fields listed here, each with a type and bounds, and only the constructor keywords each preset's
builder knows, within bounds; :mod:`larnet_core.models.checkpoint` then builds the network on the ``meta``
device (no memory) and compares it with the weights before anything is allocated.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

from larnet_core.errors import CheckpointError
from larnet_core.face.inputs import FACE_MODES

__all__ = ["ATTENTION_KINDS", "CARD_LIMITS", "MAX_PARAMETERS", "PRESETS", "SAMPLE_MODES", "card_from_untrusted"]

#: Mask activations of the attention modules (:mod:`larnet_core.models.blocks`), which a card's ``attention`` names.
ATTENTION_KINDS = ("mixed", "channel", "spatial")
#: Largest network a checkpoint may describe (LARNet at paper size has 57.6 M parameters; 4 bytes each).
MAX_PARAMETERS = 200_000_000
#: What models are trained on (the same tuple as :data:`larnet_core.data.samples.SAMPLE_MODES`).
SAMPLE_MODES = ("apex", "frames", "flow")
#: Flow estimators and face modes a card may name ("" for cards written before the field existed).
FLOW_CHOICES = ("", "tvl1", "farneback")
FACE_CHOICES = ("", *FACE_MODES)
#: At most this many training subjects are recorded (the composite of three sets has 68).
MAX_TRAINING_SUBJECTS = 10_000
#: Bounds on the card's numbers, shown in docs/security.md.
CARD_LIMITS = {
    "input_size": (16, 512),
    "class_count": (1, 1000),
    "in_channels": (1, 4),
    "width": (4, 128),
    "emo_width": (4, 64),
    "bridge_size": (8, 64),
    "modules_per_level": (0, 4),
    "mask_depth": (1, 4),
    "tail_units": (0, 4),
}
# Class names reach charts (plotly reads a little HTML) and Markdown: letters, digits and a few separators only.
_CLASS_NAME = re.compile(r"\w[\w .+\-/']{0,63}")
_TEXT_LIMITS = {"label_scheme": 64, "training_data": 4000, "code_version": 64, "created_at": 64, "notes": 20_000}


def _fail(field: str, problem: str) -> CheckpointError:
    return CheckpointError(f"model card field {field!r} {problem}")


def _integer(value: Any, field: str, bounds: tuple[int, int]) -> int:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, f"must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise _fail(field, f"is {value if abs(value) < 10**12 else 'huge'}; it must be between {low} and {high}")
    return int(value)


def _number(value: Any, field: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(field, f"must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise _fail(field, f"must be a finite number between {low:g} and {high:g}")
    return number


def _text(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise _fail(field, f"must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise _fail(field, f"has {len(value)} characters; at most {limit} are allowed")
    return value


def _choice(value: Any, field: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        shown = value if isinstance(value, str) and len(value) < 80 else type(value).__name__
        raise _fail(field, f"is {shown!r}; valid values: {', '.join(choices)}")
    return value


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(field, f"must be true or false, got {type(value).__name__}")
    return value


def _triple(field: str, bounds: tuple[int, int]) -> Callable[[Any], tuple[int, int, int]]:
    def check(value: Any) -> tuple[int, int, int]:
        if not isinstance(value, (list, tuple)) or len(value) != 3:
            raise _fail(field, "must be a list of 3 integers")
        return tuple(_integer(v, field, bounds) for v in value)  # type: ignore[return-value]

    return check


def _width(field: str) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        width = _integer(value, field, CARD_LIMITS[field])
        if width % 4:
            raise _fail(field, f"is {width}; it must be a multiple of 4")
        return width

    return check


_MODULES = _triple("modules_per_level", CARD_LIMITS["modules_per_level"])
_DEPTHS = _triple("mask_depths", CARD_LIMITS["mask_depth"])
_DROP = lambda value: _number(value, "drop_rate", 0.0, 1.0)  # noqa: E731 - one-line table entry
# Constructor keywords each builder accepts from a card (``num_classes``, ``in_channels``, ``attention`` and
# ``residual`` come from the card's own fields).
_KWARGS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "residual_attention": {
        "modules_per_level": _MODULES, "mask_depths": _DEPTHS, "width": _width("width"),
        "tail_units": lambda v: _integer(v, "tail_units", CARD_LIMITS["tail_units"]), "drop_rate": _DROP,
    },
    "emoresnet": {"width": _width("emo_width"), "mask_depths": _DEPTHS, "drop_rate": _DROP},
    "larnet": {
        "width": _width("width"), "emo_width": _width("emo_width"),
        "bridge_size": lambda v: _integer(v, "bridge_size", CARD_LIMITS["bridge_size"]),
        "stage1_modules": _triple("stage1_modules", CARD_LIMITS["modules_per_level"]),
        "stage2_modules": _triple("stage2_modules", CARD_LIMITS["modules_per_level"]), "drop_rate": _DROP,
    },
    "resnet18": {"small_input": lambda v: _flag(v, "small_input")},
    "fixed": {},  # the field's small flow networks: their papers fix every size
}
# Every preset of :data:`larnet_core.models.registry.MODEL_CONFIGS`, in its order (a test keeps the two equal):
# listed here so that a card is checked without importing the networks (torch).
_PRESET_KWARGS = {"attention56": "residual_attention", "attention92": "residual_attention",
                  "emoresnet": "emoresnet", "larnet": "larnet", "larnet-lite": "larnet", "resnet18": "resnet18",
                  "ststnet": "fixed", "off-apexnet": "fixed"}
#: Presets a card may name.
PRESETS = tuple(_PRESET_KWARGS)


def _class_names(value: Any) -> list[str]:
    low, high = CARD_LIMITS["class_count"]
    if not isinstance(value, (list, tuple)) or not low <= len(value) <= high:
        raise _fail("class_names", f"must be a list of {low} to {high} class names")
    names = []
    for name in value:
        if not isinstance(name, str) or not _CLASS_NAME.fullmatch(name):
            shown = name[:40] if isinstance(name, str) else type(name).__name__
            raise _fail("class_names", f"holds {shown!r}; class names are 1-64 letters, digits, spaces or _ . + - / '")
        names.append(name)
    if len(set(names)) != len(names):
        raise _fail("class_names", "names a class twice")
    return names


def _subjects(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)) or len(value) > MAX_TRAINING_SUBJECTS:
        raise _fail("training_subjects", f"must be a list of at most {MAX_TRAINING_SUBJECTS} subject names")
    names = []
    for name in value:
        if not isinstance(name, str) or not 0 < len(name) <= 128:
            raise _fail("training_subjects", "holds a subject that is not a name of 1-128 characters")
        names.append(name)
    return names


def _model_kwargs(value: Any, preset: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail("model_kwargs", f"must be a mapping, got {type(value).__name__}")
    allowed = _KWARGS[_PRESET_KWARGS.get(preset, "fixed")]  # a preset not listed takes no keywords from a card
    checked = {}
    for key, item in value.items():
        if key not in allowed:
            raise _fail("model_kwargs", f"holds {str(key)[:40]!r}, which preset {preset!r} does not take; "
                        f"allowed: {', '.join(allowed) or 'none'}")
        checked[key] = allowed[key](item)
    return checked


def _channels(value: Any, field: str, count: int, low: float, high: float) -> list[float]:
    if not isinstance(value, (list, tuple)) or len(value) != count:
        raise _fail(field, f"must be a list of {count} numbers (one per input channel)")
    return [_number(v, field, low, high) for v in value]


def card_from_untrusted(data: Any) -> dict[str, Any]:
    """Check a card read from a file and return its fields, ready for ``ModelCard(**fields)``.

    Raises:
        CheckpointError: naming the first field that is missing, unknown, of the wrong type or out of bounds.
    """
    if not isinstance(data, dict):
        raise CheckpointError(f"the model card must be a mapping, got {type(data).__name__}")
    known = {"preset", "class_names", "input_size", "mean", "std", "attention", "residual", "in_channels",
             "sample_mode", "flow", "face", "label_scheme", "training_data", "training_subjects", "synthetic",
             "model_kwargs", *_TEXT_LIMITS}
    unknown = sorted(str(key)[:40] for key in data if key not in known)
    if unknown:
        raise CheckpointError(f"the model card has fields this version does not know ({', '.join(unknown[:5])}); "
                              "it was written by another program or a newer LARNet Studio")
    for required in ("preset", "class_names", "input_size"):
        if required not in data:
            raise _fail(required, "is missing")
    preset = _choice(data["preset"], "preset", PRESETS)
    fields: dict[str, Any] = {
        "preset": preset,
        "class_names": _class_names(data["class_names"]),
        "input_size": _integer(data["input_size"], "input_size", CARD_LIMITS["input_size"]),
    }
    in_channels = _integer(data.get("in_channels", 3), "in_channels", CARD_LIMITS["in_channels"])
    fields["in_channels"] = in_channels
    if "mean" in data:
        fields["mean"] = _channels(data["mean"], "mean", in_channels, -1000.0, 1000.0)
    if "std" in data:
        fields["std"] = _channels(data["std"], "std", in_channels, 1e-6, 1000.0)
    if "attention" in data:
        fields["attention"] = _choice(data["attention"], "attention", ATTENTION_KINDS)
    for flag in ("residual", "synthetic"):
        if flag in data:
            fields[flag] = _flag(data[flag], flag)
    if "sample_mode" in data:
        fields["sample_mode"] = _choice(data["sample_mode"], "sample_mode", SAMPLE_MODES)
    if "flow" in data:
        fields["flow"] = _choice(data["flow"], "flow", FLOW_CHOICES)
    if "face" in data:
        fields["face"] = _choice(data["face"], "face", FACE_CHOICES)
    if "training_subjects" in data:
        fields["training_subjects"] = _subjects(data["training_subjects"])
    for name, limit in _TEXT_LIMITS.items():
        if name in data:
            fields[name] = _text(data[name], name, limit)
    fields["model_kwargs"] = _model_kwargs(data.get("model_kwargs", {}), preset)
    return fields
