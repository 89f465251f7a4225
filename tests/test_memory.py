"""A night of preset switching must not grow the show's memory (issue 24).

The show's memory in use stayed flat under switching; what grew was the free space glibc's heap
keeps between small objects that live on, once its dynamic mmap threshold had put each frame's
large transient blocks on the heap. :func:`live.memory.steady_allocator` fixes the threshold."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The show's pattern, a frame at a time: large transient blocks whose sizes change with the preset
# (decoded frames, tensors), and small objects that live on (bounded here: a deque).
PATTERN = textwrap.dedent("""
    import collections, ctypes, sys
    import numpy as np
    {setup}
    libc = ctypes.CDLL("libc.so.6")
    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
    libc.mallinfo2.restype = Info
    rng = np.random.default_rng(0)
    keep = collections.deque(maxlen=64)
    sizes = [(256, 256, 3), (216, 384, 3), (128, 128, 12), (64, 64, 32)]
    for i in range(400):
        big = [np.ones(sizes[(i + j) % len(sizes)], np.float32) for j in range(3)]
        keep.append(np.ones(int(rng.integers(100, 4000)), np.uint8))
        del big
    print(libc.mallinfo2().fordblks)
""")


def _free_heap_bytes(setup: str) -> int:
    out = subprocess.run([sys.executable, "-c", PATTERN.format(setup=setup)], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_steady_allocator_keeps_the_heap_free_of_holes():
    steady = _free_heap_bytes("from live.memory import steady_allocator; assert steady_allocator()")
    assert steady < 2**20, f"{steady / 2**20:.1f} MB free in the heap"  # glibc left as it is: 3 MB here


def test_steady_allocator_is_set_by_the_cli_and_the_show():
    import live.cli
    import live.show.runner

    assert "steady_allocator()" in Path(live.cli.__file__).read_text()
    assert "steady_allocator()" in Path(live.show.runner.__file__).read_text()
