"""``larnet bench live_streams``: how many /live webcam streams one server analyses at camera rate.

Each simulated stream is what a browser streaming /live costs the server: a camera thread delivers frames at
``--fps`` (decoding VP8 like aiortc's receiver, unless ``--no-codec``), a worker thread takes the newest frame
(as streamlit-webrtc's async processing does, dropping older ones) and runs the page's callback path
(:class:`larnet_core.video.stream.LiveStream`: RGB conversion, :class:`LiveAnalyzer`, conversion back, the
shared frame slots), and every frame sent back is VP8-encoded with aiortc's own encoder. All streams share one
Predictor, as the dashboard's cached model is shared.
"""

from __future__ import annotations

import argparse
import os
import queue
import threading
import time
from fractions import Fraction

import cv2
import numpy as np

from larnet_core.benchmarks._common import add_model_arguments, animated_face, load_predictor
from larnet_core.video import LiveAnalyzer
from larnet_core.video.stream import FrameSlots, LiveStream, default_slots

DESCRIPTION = ("live streams served at camera rate: N simulated browsers through the /live callback path, "
               "frame conversion and VP8 codec included")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    # One inference thread per call: the streams are the parallelism (more threads per call oversubscribe).
    parser.set_defaults(threads=1)
    parser.add_argument("--streams", default="1,2,3,4", help="comma-separated stream counts to try (default 1,2,3,4)")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per stream count (default 8)")
    parser.add_argument("--fps", type=float, default=30.0, help="camera frame rate (default 30)")
    parser.add_argument("--size", default="640x480", help="camera frame size (default 640x480)")
    parser.add_argument("--slots", type=int, default=None,
                        help="frames analysed at once by all streams (default: CPU cores, as the page)")
    parser.add_argument("--cv-threads", type=int, default=None,
                        help="OpenCV threads (default: as the dashboard sets them, see larnet_core.video.stream)")
    parser.add_argument("--no-codec", action="store_true", help="leave out the WebRTC VP8 decode and encode")
    parser.add_argument("--served", type=float, default=0.9,
                        help="a stream counts as served at camera rate when this share of its frames is "
                             "analysed (default 0.9)")


class _SimulatedBrowser:
    """One stream: camera (and VP8 decode) at the frame rate, a newest-frame worker, VP8 encode of the output."""

    def __init__(self, stream, images, packets, fps: float, codec: bool) -> None:
        import av  # lazy: PyAV only once the benchmark runs (`larnet bench TARGET --help` imports this module)

        self.stream, self.packets, self.fps, self.codec = stream, packets, fps, codec
        # Frames of its own, as each real stream has: PyAV frames are not safe to share between threads.
        self.frames = [] if codec else [av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
                                        for image in images]
        self.inbox: queue.Queue = queue.Queue()
        self.latencies: list[float] = []
        self.analysed = 0
        self.delivered = 0
        self._out = None
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._camera, daemon=True),
                         threading.Thread(target=self._worker, daemon=True)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.inbox.put(None)
        for thread in self._threads:
            thread.join(timeout=10)

    def _camera(self) -> None:
        import av  # lazy: PyAV only once the benchmark runs (`larnet bench TARGET --help` imports this module)

        decoder = encoder = None
        if self.codec:
            # lazy: aiortc only once the benchmark runs (`larnet bench TARGET --help` imports this module)
            from aiortc.codecs.vpx import Vp8Encoder

            decoder, encoder = av.CodecContext.create("vp8", "r"), Vp8Encoder()
        index, start = 0, time.perf_counter()
        while not self._stop.is_set():
            if decoder is not None:
                frame = decoder.decode(self.packets[index % len(self.packets)])[0]
            else:
                frame = self.frames[index % len(self.frames)]
            frame.pts, frame.time_base = index, Fraction(1, int(self.fps))
            self.inbox.put((time.perf_counter(), frame))
            out = self._out if self._out is not None else frame
            if encoder is not None:  # aiortc encodes every frame it sends, analysed or not
                out.pts, out.time_base = index, Fraction(1, int(self.fps))
                encoder.encode(out)
            self.delivered += 1
            index += 1
            delay = start + index / self.fps - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    def _worker(self) -> None:
        while True:
            item = self.inbox.get()
            while not self.inbox.empty():  # streamlit-webrtc hands over only the newest frame
                item = self.inbox.get_nowait()
            if item is None or self._stop.is_set():
                return
            arrived, frame = item
            out, result = self.stream.process(frame)
            if result is not None:
                self.analysed += 1
                self.latencies.append(time.perf_counter() - arrived)
                self._out = out


def _media(size: tuple[int, int], fps: float):
    import av  # lazy: PyAV only once the benchmark runs (`larnet bench TARGET --help` imports this module)

    images, _ = animated_face(size[0], size[1], fps, 4.0, face_height=0.9)
    images = list(images)
    frames = [av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p") for image in images]
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = size[0], size[1], "yuv420p"
    encoder.time_base, encoder.bit_rate = Fraction(1, int(fps)), 1_500_000
    encoder.options = {"deadline": "realtime", "cpu-used": "8"}
    packets = []
    for index, frame in enumerate(frames):
        frame.pts = index
        packets.extend(encoder.encode(frame))
    packets.extend(encoder.encode(None))
    return images, packets


def _measure(predictor, n: int, images, packets, args) -> list[dict]:
    slots = FrameSlots(args.slots or default_slots())
    browsers = [_SimulatedBrowser(LiveStream(LiveAnalyzer(predictor, fps_hint=args.fps), slots), images, packets,
                                  args.fps, not args.no_codec) for _ in range(n)]
    for browser in browsers:
        browser.start()
    time.sleep(1.0)  # warm-up: the face track locks on
    before = [(b.analysed, b.delivered, b.stream.frames_skipped, len(b.latencies)) for b in browsers]
    started, cpu_started = time.perf_counter(), time.process_time()
    time.sleep(args.seconds)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    rows = []
    for browser, (analysed, delivered, skipped, lat_start) in zip(browsers, before):
        latencies = np.asarray(browser.latencies[lat_start:]) * 1000.0
        rows.append({
            "analysed_fps": (browser.analysed - analysed) / elapsed,
            "camera_fps": (browser.delivered - delivered) / elapsed,
            "skipped": browser.stream.frames_skipped - skipped,
            "p95_ms": float(np.percentile(latencies, 95)) if latencies.size else float("nan"),
            "cpu_s_per_s": cpu / elapsed / n,  # this process's CPU, shared out per stream
        })
    for browser in browsers:
        browser.stop()
    return rows


def run(args: argparse.Namespace) -> int:
    if args.cv_threads is not None:
        cv2.setNumThreads(args.cv_threads)
    counts = [int(c) for c in args.streams.split(",") if c.strip()]
    width, height = (int(v) for v in args.size.lower().split("x"))
    predictor, described = load_predictor(args)
    images, packets = _media((width, height), args.fps)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    print(f"model: {described}; {cores} CPU cores; frame slots {args.slots or default_slots()}; OpenCV threads "
          f"{cv2.getNumThreads()}; {width}x{height} at {args.fps:g} fps; VP8 codec "
          f"{'off' if args.no_codec else 'on'}")
    served_at_rate, estimate = 0, None
    for n in counts:
        rows = _measure(predictor, n, images, packets, args)
        fps = [r["analysed_fps"] for r in rows]
        worst = min(fps)
        at_rate = worst >= args.served * args.fps
        if at_rate:
            served_at_rate = max(served_at_rate, n)
        print(f"{n} stream(s): analysed fps per stream {', '.join(f'{v:.1f}' for v in fps)} (min {worst:.1f}, "
              f"total {sum(fps):.1f}); camera fps {min(r['camera_fps'] for r in rows):.1f}; skipped "
              f"{sum(r['skipped'] for r in rows)} frames; p95 latency "
              f"{max(r['p95_ms'] for r in rows):.0f} ms; CPU {rows[0]['cpu_s_per_s']:.2f} core(s) per stream"
              f"{'  <- served at camera rate' if at_rate else ''}")
        if n == 1 and fps[0] > 0:
            # CPU one stream needs at full camera rate (codec work scales with the camera, analysis with frames).
            estimate = 1.0 / (rows[0]["cpu_s_per_s"] * max(1.0, args.fps / fps[0]))
    print(f"measured: {served_at_rate} stream(s) at >= {args.served:.0%} of {args.fps:g} fps on {cores} cores "
          f"= {served_at_rate / cores:.1f} per core (wall clock; other load on the machine lowers it)")
    if estimate is not None:
        print(f"estimated from CPU time: {estimate:.1f} stream(s) per core at {args.fps:g} fps "
              f"({estimate * cores:.1f} on {cores} cores)")
    return 0
