"""The flash limiter's cost line of `bench render`."""

from live.bench.render import flash_limit_cost


def test_flash_limit_cost_times_both_ways():
    cost = flash_limit_cost(64, 48, frames=5)
    assert all(ms > 0 for ms in (*cost.steady, *cost.strobe))
    assert str(cost).startswith("flash limiter at 64x48: ")
