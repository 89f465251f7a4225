"""Run inside a network namespace with only loopback (see test_visuals_outputs.py): draw a known
picture, send it through the show's NDI output (StageOutputs + NdiSender), receive it with a
cyndilib receiver, and print one JSON line comparing what arrived with the read-back picture."""

import json
import sys
import time

import numpy as np

W, H = 64, 48


def main() -> int:
    import pyglet

    pyglet.options["headless"] = True
    from cyndilib.finder import Finder
    from cyndilib.receiver import Receiver
    from cyndilib.video_frame import VideoFrameSync
    from cyndilib.wrapper.ndi_recv import RecvBandwidth, RecvColorFormat

    from live.visuals.outputs import NdiSender, StageOutputs
    from live.visuals.renderer import Renderer

    class Frame:
        def __init__(self, rgb, seq):
            self.rgb, self.display_time, self.seq = rgb, 0.0, seq

    picture = np.zeros((H, W, 3), np.uint8)  # four quadrants: red, green, blue, white
    picture[: H // 2, : W // 2] = (230, 30, 30)
    picture[: H // 2, W // 2 :] = (30, 230, 30)
    picture[H // 2 :, : W // 2] = (30, 30, 230)
    picture[H // 2 :, W // 2 :] = (240, 240, 240)
    renderer = Renderer(W, H, headless=True)
    renderer.set_shaders([])
    renderer.update_frames(None, Frame(picture, 1))
    sender = NdiSender("live-visuals-test", W, H, 30)
    outputs = StageOutputs(renderer, [sender])
    started = time.perf_counter()
    got = None
    with Finder() as finder:
        source = None
        while source is None and time.perf_counter() - started < 10:
            renderer.draw(0.0, 1.0, {})
            outputs.capture()
            finder.wait_for_sources(0.2)
            source = next((s for s in finder if s.stream_name == "live-visuals-test"), None)
        if source is None:
            print(json.dumps({"error": f"source not found: {finder.get_source_names()}"}))
            return 1
        found = time.perf_counter() - started
        receiver = Receiver(color_format=RecvColorFormat.RGBX_RGBA, bandwidth=RecvBandwidth.highest)
        frame = VideoFrameSync()
        receiver.frame_sync.set_video_frame(frame)
        receiver.set_source(source)
        while got is None and time.perf_counter() - started < 20:
            renderer.draw(0.0, 1.0, {})
            outputs.capture()
            time.sleep(1 / 30)
            receiver.frame_sync.capture_video()
            if min(frame.get_resolution()) > 0 and frame.get_data_size() > 0:
                got = np.array(frame.get_array()).reshape(H, W, 4)
        receiver.disconnect()
    expected = renderer.read_pixels()
    outputs.close()
    renderer.close()
    if got is None:
        print(json.dumps({"error": "no frame received", "found_s": found}))
        return 1
    diff = np.abs(got[..., :3].astype(int) - expected.astype(int))
    print(json.dumps({"found_s": round(found, 2), "mean_diff": float(diff.mean()), "max_diff": int(diff.max()),
                      "corners": [got[2, 2, :3].tolist(), got[2, -3, :3].tolist(), got[-3, 2, :3].tolist(),
                                  got[-3, -3, :3].tolist()], "sent": sender.sent}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
