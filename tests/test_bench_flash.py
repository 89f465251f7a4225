"""The flash limiter's cost line of `bench render`."""

import numpy as np

from live.bench.render import flash_limit_cost


def test_flash_limit_cost_times_both_ways():
    cost = flash_limit_cost(64, 48, frames=5)
    assert all(ms > 0 for ms in (*cost.steady, *cost.strobe))
    assert str(cost).startswith("flash limiter at 64x48: ")


def test_flash_limit_stalls_counts_repeated_frames_both_ways(tmp_path):
    from live.bench.render import flash_limit_stalls, repeated_frames
    from live.library.demo import write_demo_track

    a, b = np.zeros((2, 2, 3), np.uint8), np.ones((2, 2, 3), np.uint8)
    assert repeated_frames([a, b, b, b, a, a]) == (3, 2)
    write_demo_track(tmp_path / "demo.wav", 1.0)
    stalls = flash_limit_stalls(str(tmp_path / "demo.wav"), seconds=1.0, size="64x64", fps=30)
    assert stalls.repeated == (0, 0) and stalls.longest == (0, 0)  # the grid preset keeps moving, limited or not
    assert str(stalls).startswith("flash limiter on grid against demo.wav (1 s, 30 fps): repeated frames 0 without, 0 with")
