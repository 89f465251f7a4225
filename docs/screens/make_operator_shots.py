"""Screenshots of the operator view, headless (EGL, llvmpipe), at 1920x1080, 1280x720 and 960x540.

Run from the repository root: `.venv/bin/python docs/screens/make_operator_shots.py [frozen]`;
the PNGs are written next to this script. The state shown is made up (a queued switch, a clipping
input, a last OSC message) so every part of the view is on screen."""
import sys
from pathlib import Path

import pyglet
pyglet.options["headless"] = True
import numpy as np
from PIL import Image
from live.library.demo import demo_images
from live.messages import AudioState
from live.visuals.renderer import Renderer
from live.visuals.windows import StageWindows
from live.visuals.worker import Frame
from live.control.commands import key_reference_lines
from live.show.show import shader_uniforms

frozen = len(sys.argv) > 1 and sys.argv[1] == "frozen"
r = Renderer(768, 432, headless=True, aspect="fit")
imgs = demo_images(768, 432, 6)
names = ["demo", "nebula", "ink", "grid", "acid", "calm", "peak"]
thumbs = {n: np.ascontiguousarray(imgs[i % len(imgs)][::4, ::4]) for i, n in enumerate(names[:-1])}
r.set_shaders(["kaleido", "pulse", "rgbshift"])
state = AudioState(time=100.0, bpm=128.0, tempo=128.0, confidence=0.91, tempo_source="audio", beat_index=197,
                   beat_phase=0.1, downbeat=1, low=0.8, mid=0.5, high=0.35, level=0.7, onset_env=0.6, silent=False,
                   input_peak=10 ** (-7.4 / 20), clipping=True)
status = {"preset": "demo", "queued": "nebula", "queued_unit": "phrase", "due_beats": 6.9, "due_s": 3.23, "due_at": 103.2,
          "fps": 60.0, "decode_fps": 24.8, "latency_ms": 38.0, "decoder": "approx", "freeze": frozen,
          "flash_limit": True, "last_message": "osc: /preset ('nebula',)", "last_message_at": 97.6,
          "chain": "kaleido segments=6 spin=0.2 | pulse amount=0.6 | rgbshift shift=0.004",
          "preset_list": tuple(names), "thumbnails": thumbs, "section": "", "autopilot": False}
for size in ((1920, 1080), (1280, 720), (960, 540)):
    w = StageWindows(r, operator="", hud_source=lambda: (state, status), key_help=key_reference_lines(),
                     operator_size=size)
    r.update_frames(Frame(imgs[0], 0.0, 1, 0.0), Frame(imgs[1], 0.0, 2, 0.0))
    r.draw(100.0, 0.5, shader_uniforms(state, 100.0))
    w.draw_operator(100.0)
    out = w.read("operator")
    tag = "-frozen" if frozen else ""
    Image.fromarray(out).save(Path(__file__).with_name(f"operator-{size[0]}x{size[1]}{tag}.png"))
    print("saved", size)
    w.close()
r.close()
