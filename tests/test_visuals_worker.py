"""Decode threads run with the decoder's own torch thread count, whatever ran before them."""

from __future__ import annotations

import threading

import numpy as np
import torch

from live.bench.decode import BareRunner
from live.device import DEFAULT_CPU_THREADS
from live.visuals.decoders import ApproxDecoder, Decoder
from live.visuals.worker import DecodeWorker


class Recording(Decoder):
    """Records the torch thread count of the thread that decodes."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        self.seen.append(torch.get_num_threads())
        return np.zeros((1, 8, 8, 3), np.uint8)


def test_worker_and_bare_threads_set_their_count_after_a_one_thread_approx_worker():
    # An approx worker sets 1 thread; torch keeps that as the start value of every later thread.
    with DecodeWorker(ApproxDecoder()) as approx:
        approx.request(torch.zeros(1, 4, 2, 2), 0.0)
        assert approx.wait_idle(5.0)
    seen: list[int] = []
    probe = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    probe.start()
    probe.join()
    rec = Recording()
    assert rec.decode_threads == DEFAULT_CPU_THREADS
    with DecodeWorker(rec) as worker:
        worker.request(torch.zeros(1, 4, 1, 1), 0.0)
        assert worker.wait_idle(5.0)
    runner = BareRunner(rec)
    try:
        runner.measure([torch.zeros(1, 4, 1, 1)], seconds=0.0, min_frames=1)
    finally:
        runner.stop()
    assert rec.seen == [DEFAULT_CPU_THREADS, DEFAULT_CPU_THREADS]
    if DEFAULT_CPU_THREADS > 1:
        assert seen == [1]  # the hazard the explicit setting guards against is real here
    approx_threads = ApproxDecoder().decode_threads
    assert approx_threads == 1


class Blocking(Decoder):
    """Blocks inside decode until released, like a hung GPU."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        self.release.wait(10)
        return np.zeros((1, 8, 8, 3), np.uint8)


def test_busy_for_measures_a_decode_in_progress_and_a_follower_keeps_the_frames():
    import time

    with DecodeWorker(ApproxDecoder()) as first:
        first.request(torch.zeros(1, 4, 2, 2), 1.0)
        assert first.wait_idle(5.0)
        assert first.busy_for(time.perf_counter()) == 0.0
    blocking = Blocking()
    second = DecodeWorker(blocking, follows=first).start()
    try:
        assert second.frames() == first.frames() and second.frames()[1].seq == 1  # the picture stays on screen
        second.request(torch.zeros(1, 4, 1, 1), 2.0)
        assert second.wait_picked(5.0)
        time.sleep(0.2)
        assert 0.15 <= second.busy_for(time.perf_counter()) < 5.0
    finally:
        blocking.release.set()
        second.stop()
    assert second.frames()[1].seq == 2  # numbering carried on from the worker it followed
