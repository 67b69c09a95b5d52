"""The running dashboard in headless Chromium (Playwright): every page loads, a clip upload produces the timeline,
the live page analyses a fake webcam fed from a generated face clip, and the metrics page reacts to a selection.

Screenshots of every page are written to build/screenshots/<page>.png, or to $LARNET_SCREENSHOT_DIR:
`make screenshots` points it at docs/screenshots, which the README shows (kept out of ordinary runs so that a test
run does not rewrite tracked images).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import require_or_skip

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = Path(os.environ.get("LARNET_SCREENSHOT_DIR") or REPO / "build" / "screenshots")
BUNDLED_DEMO = REPO / "assets" / "models" / "larnet-lite-demo.pt"
CHROMIUM = "/usr/bin/chromium"
CLASSES = ["disgust", "fear", "happiness", "others", "repression", "sadness", "surprise"]
VIEWPORT = {"width": 1280, "height": 900}
PAGES = {"home": "", "live": "live", "clip": "clip", "attention": "attention", "metrics": "metrics",
         "batch": "batch", "sessions": "sessions"}
START_TIMEOUT_S = 90
RUN_TIMEOUT_MS = 300_000  # generous: the first analysis exports the model to ONNX, slow on a loaded machine


# ---------------------------------------------------------------------------------------------------- files
def face_frames(n_frames: int = 60) -> list[np.ndarray]:
    """A real face photo with a brief movement of the mouth region in the middle of the clip."""
    from larnet_core.face import sample_face_photos

    face = cv2.resize(sample_face_photos()["grace_hopper"], (320, 376), interpolation=cv2.INTER_AREA)
    frames = []
    for index in range(n_frames):
        frame = face.copy()
        if n_frames // 3 <= index < n_frames // 3 + 8:
            frame[230:300, 100:220] = np.roll(face[230:300, 100:220], 3, axis=0)
        frames.append(frame)
    return frames


def write_mp4(frames: list[np.ndarray], path: Path, fps: int = 30) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def write_fake_run(path: Path, checkpoint: Path) -> None:
    import pandas as pd

    from larnet_core.metrics import compute_metrics
    from larnet_core.runs import write_run

    rng = np.random.default_rng(0)
    rows = []
    for subject in range(3):
        for clip in range(20):
            true = CLASSES[rng.integers(len(CLASSES))]
            pred = true if rng.random() < 0.6 else CLASSES[rng.integers(len(CLASSES))]
            probs = np.full(len(CLASSES), 0.05)
            probs[CLASSES.index(pred)] = 0.7
            rows.append({"subject": f"sub{subject + 1:02d}", "clip": f"EP{clip:02d}", "frame": "", "true_label": true,
                         "pred_label": pred, **{f"prob_{c}": p for c, p in zip(CLASSES, probs / probs.sum())},
                         "fold": subject})
    table = pd.DataFrame(rows)
    report = compute_metrics(table, CLASSES, label_scheme="casme2-7", protocol="loso", synthetic=True)
    write_run(path, {"name": path.name, "label_scheme": "casme2-7", "protocol": "loso",
                     "checkpoint": str(checkpoint)}, report, table)


@pytest.fixture(scope="module")
def app_files(tmp_path_factory) -> dict[str, Path]:
    from larnet_core.models import ModelCard, build_model, save_checkpoint
    from larnet_core.synth.footage import make_footage, write_footage
    from larnet_core.video import write_y4m

    root = tmp_path_factory.mktemp("browser")
    checkpoint = BUNDLED_DEMO
    if not checkpoint.is_file():  # the app as shipped when the demo is there; an untrained stand-in otherwise
        card = ModelCard.for_preset("larnet-lite", CLASSES, label_scheme="casme2-7", synthetic=True,
                                    training_data="generated faces (larnet synth)")
        checkpoint = save_checkpoint(build_model("larnet-lite", num_classes=len(CLASSES)), card, root / "demo.pt")
    write_fake_run(root / "runs" / "loso-demo", checkpoint)
    frames = face_frames()
    story = make_footage("crying_surprise_laugh", seed=3)
    story_frames = list(story.frames)
    return {"root": root, "checkpoint": checkpoint, "runs": root / "runs", "data": root / "data",
            "batches": root / "batches", "clip": write_mp4(frames, root / "face-clip.mp4"),
            # The webcam and the uploaded clip: a real face that cries, widens its eyes behind a hand and laughs
            # while its head moves (the scenario of tests/test_story_footage.py).
            "story": write_footage(root / "story.mp4", story_frames, story.truth.fps),
            "story_truth": story.truth,
            "y4m": write_y4m(story_frames, root / "story.y4m", fps=story.truth.fps)}


# ---------------------------------------------------------------------------------------------------- app + browser
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(app_files):
    require_or_skip(Path(CHROMIUM).exists(), f"browser tests need Debian's chromium at {CHROMIUM}")
    port = _free_port()
    env = {**os.environ, "LARNET_DEFAULT_CHECKPOINT": str(app_files["checkpoint"]),
           "LARNET_RUNS_DIR": str(app_files["runs"]), "LARNET_DATA_DIR": str(app_files["data"]),
           "LARNET_BATCHES_DIR": str(app_files["batches"])}
    env.pop("LARNET_DATABASE_URL", None)
    log_path = app_files["root"] / "streamlit.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.address", "127.0.0.1",
             "--server.headless", "true", "--server.port", str(port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def browser(app_files):
    require_or_skip(Path(CHROMIUM).exists(), f"browser tests need Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={app_files['y4m']}", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport=VIEWPORT, permissions=["camera"], base_url=app_url)
    opened = context.new_page()
    yield opened
    context.close()


def wait_idle(page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Wait until the script run triggered last has finished."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms)
    page.wait_for_timeout(300)  # let the last deltas paint


def assert_no_exception(page) -> None:
    shown = page.locator('[data-testid="stException"]')
    assert shown.count() == 0, shown.first.inner_text()


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def open_page(page, path: str) -> None:
    page.goto(f"/{path}")
    page.wait_for_selector('[data-testid="stApp"]', timeout=RUN_TIMEOUT_MS)
    page.wait_for_timeout(500)
    wait_idle(page)


# ---------------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("name", ["home", "attention", "sessions", "clip"])
def test_page_loads_without_an_exception(page, name):
    open_page(page, PAGES[name])
    assert_no_exception(page)
    if name == "home":
        assert page.get_by_text("Trained on synthetic data").count() >= 1
        screenshot(page, name)
    assert page.locator("h1").count() >= 1


def _upload_and_analyse(page, path: Path) -> None:
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path))
    page.get_by_text(path.name).first.wait_for(timeout=30_000)
    wait_idle(page)
    page.get_by_role("button", name="Analyse", exact=True).click()
    page.wait_for_timeout(500)
    wait_idle(page)


def test_clip_upload_timeline_attention_and_saved_session(page, app_files, tmp_path):
    open_page(page, "clip")
    assert_no_exception(page)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video" * 100)
    _upload_and_analyse(page, broken)
    page.get_by_text(re.compile("Cannot analyse broken.mp4")).wait_for(timeout=RUN_TIMEOUT_MS)
    assert_no_exception(page)

    _upload_and_analyse(page, app_files["story"])
    timeline = page.get_by_role("heading", name="Timeline")
    try:
        timeline.wait_for(timeout=60_000)
    except Exception:  # noqa: BLE001 - say what the page shows instead, then give the click one more chance
        alerts = [a.inner_text() for a in page.locator('[data-testid="stAlert"]').all()]
        assert not any("Cannot analyse" in text and "broken" not in text for text in alerts), alerts
        # A click that lands while Streamlit swaps the button for its next render is lost; the app is idle then.
        wait_idle(page)
        if not timeline.count():
            page.get_by_role("button", name="Analyse", exact=True).click()
        timeline.wait_for(timeout=RUN_TIMEOUT_MS)
    assert_no_exception(page)
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)  # plotly draws after the page's text
    assert page.locator(".js-plotly-plot").count() >= 2  # probability bars and the timeline
    assert page.get_by_text("Clip prediction").count() >= 1
    # What a person sees of the story: its three expressions outlined on the AU lanes, each with its AUs and rule.
    page.get_by_role("heading", name="Spotted intervals (3)").wait_for(timeout=30_000)
    labels = [t.text_content() or "" for t in page.locator(".js-plotly-plot .annotation-text").all()]
    assert any("sadness" in text for text in labels), labels
    assert any("AU1+AU2+AU5" in text and ("surprise" in text or "fear" in text) for text in labels), labels
    assert any("AU12" in text and "AU25" in text for text in labels), labels
    page.get_by_role("heading", name="Timeline").scroll_into_view_if_needed()
    screenshot(page, "clip")

    page.get_by_role("button", name="Save to session").click()
    page.get_by_text(re.compile("Saved as session")).wait_for(timeout=60_000)
    wait_idle(page)

    # Same browser session, through the sidebar: the attention page explains a frame of this clip.
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Attention").click()
    page.get_by_text("Mean absolute response per attention module").wait_for(timeout=RUN_TIMEOUT_MS)
    wait_idle(page)
    assert_no_exception(page)
    assert page.locator('[data-testid="stTab"]').count() == 3  # one tab per LARNet stage
    page.locator('[data-testid="stTab"]').first.evaluate("tab => tab.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)
    screenshot(page, "attention")

    page.locator('[data-testid="stSidebarNav"]').get_by_text("Sessions").click()
    page.wait_for_timeout(500)
    wait_idle(page)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
    assert_no_exception(page)
    assert page.get_by_text(re.compile(r"1 session\(s\)")).count() == 1
    screenshot(page, "sessions")


def _metric_value(page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]', has_text=label).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_live_webcam_counts_frames_and_predicts(page):
    open_page(page, "live")
    assert_no_exception(page)
    frame = page.frame_locator('iframe[title*="streamlit_webrtc"]').first
    frame.get_by_role("button", name=re.compile("START", re.IGNORECASE)).click(timeout=RUN_TIMEOUT_MS)
    deadline = time.monotonic() + 120
    analysed = 0
    while time.monotonic() < deadline:
        try:
            analysed = int(_metric_value(page, "Frames analysed"))
        except (ValueError, Exception):  # the metric is being redrawn
            analysed = 0
        if analysed >= 10 and page.get_by_text("Current prediction").count():
            break
        page.wait_for_timeout(500)
    assert analysed >= 10, f"only {analysed} frames analysed"
    assert page.get_by_text("Current prediction").count() >= 1
    # The camera shows the story clip (12 s, looped): its first expression is listed, by its AUs, a moment after
    # it ends, and the face's AUs are drawn as bars beside the video.
    page.get_by_text(re.compile(r"^AU\d+(\+AU\d+)*$")).first.wait_for(state="attached", timeout=90_000)
    page.locator(".js-plotly-plot", has_text="Action units (estimates)").first.wait_for(timeout=30_000)
    assert_no_exception(page)
    from playwright.sync_api import Error as PlaywrightError

    for _ in range(10):  # the bars are redrawn a few times a second: one can go from the page mid-scroll
        try:
            page.locator(".js-plotly-plot", has_text="Action units (estimates)").first.scroll_into_view_if_needed(
                timeout=5_000)
            break
        except PlaywrightError:
            page.wait_for_timeout(200)
    screenshot(page, "live")
    frame.get_by_role("button", name=re.compile("STOP", re.IGNORECASE)).click()
    page.wait_for_timeout(1000)  # the component reports the stop, which reruns the page and ends its loop
    wait_idle(page)

    # The stream's events and predictions are saved as a session and listed on the sessions page.
    page.get_by_label("Session name").fill("webcam check")
    page.get_by_role("button", name="Save to session").click()
    page.get_by_text(re.compile("Saved as session|Not saved")).first.wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_text(re.compile("Not saved")).count() == 0, page.get_by_text("Not saved").first.inner_text()
    open_page(page, "sessions")
    # the listing is a canvas data grid: its cells exist in the DOM for accessibility but are not "visible"
    page.get_by_text("webcam check").first.wait_for(state="attached", timeout=30_000)


def _bundle_to_share(tmp_path: Path) -> Path:
    """A bundle exported from another installation's store: what a colleague would send."""
    import pandas as pd

    from larnet_core.sessions import AnalysisSession, SessionStore, export_bundle

    results = pd.DataFrame({"frame": [0, 1, 2], "time_s": [0.0, 0.04, 0.08], "face_x0": 10.0, "face_y0": 10.0,
                            "face_x1": 90.0, "face_y1": 90.0, "prob_surprise": [0.1, 0.7, 0.2],
                            "pred_label": "surprise", "confidence": [0.1, 0.7, 0.2], "motion": 0.0})
    session = AnalysisSession(name="shared by a colleague", kind="clip", notes="apex at frame 31", results=results)
    with SessionStore.open(f"sqlite:///{tmp_path / 'colleague.sqlite3'}") as store:
        created = store.create(session)
        return export_bundle(store, created.id, tmp_path / "shared.larnet.zip")


def _upload_bundle(page, path: Path) -> None:
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path))
    page.get_by_text(path.name).first.wait_for(timeout=30_000)
    wait_idle(page)
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_timeout(500)
    wait_idle(page)


def test_session_import_refuses_a_hostile_bundle_and_opens_a_good_one(page, tmp_path):
    hostile = tmp_path / "hostile.larnet.zip"
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr("../../outside.txt", "escaped")
        archive.writestr("manifest.json", "{}")
    bundle = _bundle_to_share(tmp_path)

    open_page(page, "sessions")
    page.get_by_text("Import a bundle (.larnet.zip)").click()
    _upload_bundle(page, hostile)
    page.get_by_text(re.compile("Not imported")).wait_for(timeout=RUN_TIMEOUT_MS)
    assert page.get_by_text("shared by a colleague").count() == 0
    assert not (tmp_path.parent / "outside.txt").exists()

    _upload_bundle(page, bundle)  # a single-file uploader replaces the refused file
    imported = page.get_by_text(re.compile("Imported as session"))
    try:
        imported.wait_for(timeout=60_000)
    except Exception:  # noqa: BLE001 - a click that lands while Streamlit swaps the button for its next render
        wait_idle(page)  # is lost (once in a loaded full run); the app is idle then, and nothing was imported
        if not imported.count():
            page.get_by_role("button", name="Import", exact=True).click()
        imported.wait_for(timeout=RUN_TIMEOUT_MS)
    assert_no_exception(page)
    page.get_by_role("button", name="Open it").click()
    page.locator('[data-testid="stMarkdownContainer"]', has_text="apex at frame 31").first.wait_for(
        timeout=RUN_TIMEOUT_MS)  # the opened session's notes, not the list's grid cell
    assert_no_exception(page)


def test_metrics_confusion_matrix_reacts_to_a_selection(page):
    open_page(page, "metrics")
    assert_no_exception(page)
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(timeout=RUN_TIMEOUT_MS)
    before = page.get_by_text(re.compile(r"sample\(s\) true")).first.inner_text()
    assert "true disgust, predicted disgust" in before.replace("`", "")
    # Click the cell "true happiness, predicted happiness": its marker is a scatter point of the first trace.
    points = chart.locator(".scatterlayer .trace").first.locator(".point")
    points.nth(len(CLASSES) ** 2 - 1).wait_for(timeout=60_000)  # plotly draws the markers after the chart node
    assert points.count() == len(CLASSES) ** 2
    target = len(CLASSES) * CLASSES.index("happiness") + CLASSES.index("happiness")
    points.nth(target).scroll_into_view_if_needed()
    box = points.nth(target).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stMarkdownContainer\"]')]"
        ".some(e => e.innerText.includes('true happiness, predicted happiness'))", timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    screenshot(page, "metrics")


def test_a_shared_link_shows_user_text_as_plain_text_and_strangers_list_nothing(page, browser, app_url, app_files):
    from larnet_core.sessions import AnalysisSession, InputRef, SessionStore

    notes = "apex seen ![pixel](http://127.0.0.1:9/pixel.png) [click](http://127.0.0.1:9/) www.example.org :red[x]"
    app_files["data"].mkdir(parents=True, exist_ok=True)
    with SessionStore.open(f"sqlite:///{app_files['data'] / 'sessions.sqlite3'}") as store:
        created = store.create(AnalysisSession(name="**loud** [name](http://127.0.0.1:9/)", kind="clip",
                                               notes=notes, input=InputRef(name="<b>clip</b>.mp4")))
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    open_page(page, f"sessions?session={created.id}")
    assert_no_exception(page)
    page.get_by_text("apex seen").first.wait_for(timeout=RUN_TIMEOUT_MS)
    main = page.locator('[data-testid="stMain"]')
    shown = main.inner_text().replace("\u2060", "")  # the invisible word joiners that keep addresses unlinked
    assert notes in shown and "**loud** [name](http://127.0.0.1:9/)" in shown  # shown as typed
    assert main.locator('img[src*="127.0.0.1:9"]').count() == 0
    links = main.locator('a[href*="127.0.0.1:9"], a[href*="example.org"]')
    assert links.count() == 0, links.evaluate_all("els => els.map(e => e.parentElement.outerHTML)")
    assert main.locator("h2 strong, h2 a").count() == 0
    assert not [url for url in requests if "127.0.0.1:9" in url]

    # The link was opened in this browser, so its list now shows the session; a stranger's browser lists nothing.
    # The list outlives the page in a cookie a script on the page writes once it has rendered: leaving before it
    # ran (once, in a loaded full run) lost it.
    from larnet_core.sessions.visitors import COOKIE_NAME

    page.wait_for_function(f"document.cookie.includes('{COOKIE_NAME}=')", timeout=RUN_TIMEOUT_MS)
    open_page(page, "sessions")
    page.get_by_text(re.compile(r"1 session\(s\) of this browser")).wait_for(timeout=RUN_TIMEOUT_MS)
    stranger = browser.new_context(viewport=VIEWPORT, base_url=app_url).new_page()
    try:
        open_page(stranger, "sessions")
        stranger.get_by_text(re.compile("No saved session in this browser yet")).wait_for(timeout=RUN_TIMEOUT_MS)
        assert stranger.locator('[data-testid="stDataFrame"]').count() == 0
    finally:
        stranger.context.close()


def test_a_saved_clip_session_opened_by_its_link_shows_the_prediction_and_intervals(page, app_files, lite_predictor):
    from larnet_core.sessions import SessionStore, result_to_session, share_link
    from larnet_core.video import analyze_clip

    analysis = analyze_clip(app_files["clip"], lite_predictor)
    app_files["data"].mkdir(parents=True, exist_ok=True)
    with SessionStore.open(f"sqlite:///{app_files['data'] / 'sessions.sqlite3'}") as store:
        created = store.create(result_to_session(analysis, "reopened whole", clip=app_files["clip"].read_bytes()))
    open_page(page, share_link(created.id, page="clip").lstrip("/"))
    page.get_by_text("Clip prediction").first.wait_for(timeout=RUN_TIMEOUT_MS)
    assert_no_exception(page)
    assert _metric_value(page, "Clip prediction") == analysis.prediction.label
    assert _metric_value(page, "Confidence") == f"{analysis.prediction.confidence:.2f}"
    heading = f"Spotted intervals ({len(analysis.intervals)})"
    page.get_by_role("heading", name=heading).wait_for(timeout=30_000)
    if len(analysis.intervals):
        assert page.locator('[data-testid="stDataFrame"]').count() >= 1
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)  # plotly draws after the page's text
    assert page.locator(".js-plotly-plot").count() >= 2  # probability bars and the timeline
    assert page.get_by_role("button", name=re.compile("Render annotated video")).count() == 1


def _batch_key(app_files, name: str) -> str:
    """The key of a batch's link, from the server's secret in its data folder (made on first use)."""
    import os

    from larnet_core.sessions.visitors import batch_key, server_secret

    before = os.environ.get("LARNET_DATA_DIR")
    os.environ["LARNET_DATA_DIR"] = str(app_files["data"])
    try:
        return batch_key(name, server_secret())
    finally:
        if before is None:
            os.environ.pop("LARNET_DATA_DIR")
        else:
            os.environ["LARNET_DATA_DIR"] = before


def test_a_batch_folder_lists_its_clips_with_filters_and_opens_one_in_the_clip_view(page, app_files, tmp_path):
    import shutil

    from larnet_core.batch import run_batch

    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(app_files["clip"], clips / "face-clip.mp4")
    (clips / "broken.mp4").write_bytes(b"this is not a video" * 100)
    report = run_batch([clips], app_files["checkpoint"], app_files["batches"] / "interviews")
    good = report.summary[report.summary["status"] == "ok"].iloc[0]

    open_page(page, "batch")  # a visitor without the batch's link sees no batch
    page.get_by_text("No batch is shared with this browser").wait_for(timeout=RUN_TIMEOUT_MS)
    key = _batch_key(app_files, "interviews")
    open_page(page, f"batch?batch=interviews&key={key}")
    page.get_by_text("Open in the clip view").wait_for(timeout=RUN_TIMEOUT_MS)
    assert_no_exception(page)
    assert _metric_value(page, "Clips") == "2" and _metric_value(page, "Failed") == "1"
    assert page.locator('[data-testid="stDataFrame"]').count() == 1
    assert page.get_by_text(re.compile(r"2 of 2 clip\(s\)")).count() == 1
    assert page.get_by_text(re.compile(r"1 clip\(s\) analysed with")).count() == 1  # the batch's own model
    page.get_by_role("link", name="Open in the clip view").wait_for(timeout=30_000)  # the batch's tables only
    screenshot(page, "batch")

    page.get_by_role("link", name="Open in the clip view").click()
    page.get_by_text("Clip prediction").first.wait_for(timeout=RUN_TIMEOUT_MS)
    wait_idle(page)
    assert_no_exception(page)
    assert "batch=interviews" in page.url and f"clip={good['clip']}" in page.url
    assert _metric_value(page, "Clip prediction") == good["prediction"]
    page.get_by_role("heading", name=f"Spotted intervals ({int(good['intervals'])})").wait_for(timeout=30_000)
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)
    assert page.locator(".js-plotly-plot").count() >= 2  # probability bars and the timeline

    open_page(page, f"clip?batch=../runs&clip=x&key={key}")  # a link cannot reach outside the batches folder
    page.get_by_text(re.compile("does not name a batch")).wait_for(timeout=30_000)
    assert_no_exception(page)
