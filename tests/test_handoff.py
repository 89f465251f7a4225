import threading

import numpy as np

from live.handoff import CommandQueue, LatestSlot, RingBuffer


def test_ring_buffer_round_trip_and_time():
    ring = RingBuffer(1000, 1, samplerate=100)
    ring.write(np.arange(300, dtype=np.float32)[:, None], end_time=3.0)
    block, end = ring.read(100)
    assert block[:, 0].tolist() == list(range(100))
    assert end == 1.0  # 200 frames (2 s at 100 Hz) are still unread after it
    rest, end = ring.read()
    assert rest[0, 0] == 100 and len(rest) == 200 and end == 3.0


def test_ring_buffer_overrun_keeps_newest():
    ring = RingBuffer(100, 1, samplerate=10)
    for i in range(5):
        ring.write(np.full((50, 1), i, np.float32), end_time=float(i))
    block, _ = ring.read()
    assert len(block) == 100 and ring.overruns == 150
    assert block[:50, 0].tolist() == [3] * 50 and block[50:, 0].tolist() == [4] * 50


def test_ring_buffer_concurrent_writer_reader():
    ring = RingBuffer(16384, 1, samplerate=1000)  # larger than the total: no overrun
    total = 200 * 64
    got = []

    def writer():
        for i in range(200):
            ring.write(np.arange(i * 64, (i + 1) * 64, dtype=np.float32)[:, None], end_time=i)

    t = threading.Thread(target=writer)
    t.start()
    while sum(len(g) for g in got) < total:
        got.append(ring.read()[0][:, 0])
    t.join()
    data = np.concatenate(got)
    assert np.array_equal(data, np.arange(total, dtype=np.float32))


def test_latest_slot_keeps_only_newest():
    slot = LatestSlot()
    assert slot.get() is None
    for i in range(10):
        slot.put(i)
    assert slot.get() == 9 and slot.version == 10
    assert slot.take(timeout=0.01) == 9
    assert slot.take(timeout=0.01) is None


def test_command_queue_is_bounded_and_never_blocks():
    q = CommandQueue(maxsize=4)
    results = [q.put(i) for i in range(10)]
    assert results == [True] * 4 + [False] * 6
    assert q.dropped == 6
    assert q.drain() == [0, 1, 2, 3]
    assert q.drain() == []
