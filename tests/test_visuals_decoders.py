"""Decoders (approx, tiny, vae) through the real loading code, and the latest-wins decode worker."""

from __future__ import annotations

import json
import sys
import threading
import time

import numpy as np
import pytest
import torch

from live.device import DeviceError, pick_device, pick_dtype
from live.errors import UserError
from live.visuals.decoders import ApproxDecoder, Decoder, DecoderError, DiffusersDecoder, make_decoder
from live.visuals.worker import DecodeWorker, Frame


def tiny_kl(scaling_factor: float = 0.18215):
    """AutoencoderKL with SD's four-block layout (8x) and 4 latent channels, a few thousand weights."""
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 8, 8), layers_per_block=1, norm_num_groups=4, sample_size=64,
        scaling_factor=scaling_factor,
    )


def tiny_taesd():
    """AutoencoderTiny with TAESD's 8x layout and narrow channels."""
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    return AutoencoderTiny(encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
                           num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1))


@pytest.fixture(scope="module")
def vae_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("vaes")
    tiny_kl().save_pretrained(root / "model" / "vae")  # a model folder with vae/
    (root / "model" / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    tiny_kl().save_pretrained(root / "standalone")
    tiny_kl(0.13025).save_pretrained(root / "sdxl")
    tiny_taesd().save_pretrained(root / "taesd")
    (root / "empty").mkdir()
    return root


def latents(b=1, c=4, h=4, w=6, seed=0) -> torch.Tensor:
    return torch.randn(b, c, h, w, generator=torch.Generator().manual_seed(seed))


# ----- decoders -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind,folder", [("vae", "model"), ("vae", "standalone"), ("tiny", "taesd")])
def test_tiny_random_vae_decodes_to_shape_and_dtype(vae_folders, kind, folder):
    dec = make_decoder(kind, vae_folders / folder, device="cpu")
    assert dec.name == kind and dec.latent_channels == 4 and dec.dtype == torch.float32
    assert dec.device == torch.device("cpu")
    out = dec.decode(latents(2, 4, 4, 6))
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == (2, 32, 48, 3)
    assert out.std() > 0  # a real picture, not a constant
    dec.warmup((1, 4, 4, 6))


def test_vae_scaling_is_applied_once(vae_folders):
    """decode() divides by the scaling factor itself: same as diffusers' vae.decode(z / sf)."""
    from diffusers import AutoencoderKL

    dec = make_decoder("vae", vae_folders / "standalone", device="cpu")
    ref = AutoencoderKL.from_pretrained(vae_folders / "standalone")
    z = latents()
    with torch.inference_mode():
        img = ref.decode(z / ref.config.scaling_factor).sample
    expected = ((img * 0.5 + 0.5).clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    got = dec.decode(z)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_approx_decoder_matches_approx_module():
    from live.visuals.approx import latents_to_rgb, to_uint8_hwc

    dec = make_decoder("approx", device="cpu")
    assert isinstance(dec, ApproxDecoder)
    for family in ("sd1", "sdxl"):
        dec = make_decoder("approx", family=family, device="cpu")
        z = 1.5 * latents(2, 4, 8, 6)  # wide enough to clip at both ends
        fast, ref = dec.decode(z), to_uint8_hwc(latents_to_rgb(z, family))
        assert fast.shape == ref.shape == (2, 64, 48, 3) and fast.dtype == np.uint8
        assert np.abs(fast.astype(int) - ref.astype(int)).max() <= 1
        assert (fast == 0).any() and (fast == 255).any()


def test_mismatched_latents_are_refused(vae_folders):
    dec = make_decoder("tiny", vae_folders / "taesd", device="cpu")
    with pytest.raises(DecoderError, match="16 channels.*takes 4"):
        dec.decode(latents(1, 16, 4, 4))
    with pytest.raises(DecoderError, match=r"\(B, C, h, w\)"):
        dec.decode(torch.zeros(4, 4, 4))
    with pytest.raises(DecoderError, match="sdxl family.*sd1"):
        dec.check_latents(latents(), family="sdxl")
    approx_xl = make_decoder("approx", family="sdxl", device="cpu")
    with pytest.raises(DecoderError, match="16 channels"):
        approx_xl.decode(latents(1, 16, 2, 2))


def test_family_mismatch_with_the_vae_is_refused(vae_folders):
    with pytest.raises(DecoderError, match="sdxl VAE.*--family is sd1"):
        make_decoder("vae", vae_folders / "sdxl", family="sd1", device="cpu")
    dec = make_decoder("vae", vae_folders / "sdxl", family="sdxl", device="cpu")
    assert dec.family == "sdxl" and dec.scaling_factor == pytest.approx(0.13025)


@pytest.mark.parametrize("kind,folder,pattern", [
    ("vae", "missing", "does not exist"),
    ("vae", "empty", "holds no diffusers VAE"),
    ("vae", "taesd", "AutoencoderTiny.*--decoder tiny"),
    ("tiny", "standalone", "AutoencoderKL.*--decoder vae"),
    ("tiny", None, "needs a folder"),
])
def test_bad_decoder_folders_name_the_path_and_fix(vae_folders, kind, folder, pattern):
    path = None if folder is None else vae_folders / folder
    with pytest.raises(DecoderError, match=pattern) as info:
        make_decoder(kind, path, device="cpu")
    assert isinstance(info.value, UserError) and "\n" not in str(info.value)
    if path is not None:
        assert str(path) in str(info.value)


def test_broken_weights_are_a_user_error(vae_folders, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(vae_folders / "standalone", bad)
    for f in bad.glob("*.safetensors"):
        f.write_bytes(b"not a safetensors file")
    with pytest.raises(DecoderError, match="not a safetensors file.*copy the model folder again"):
        make_decoder("vae", bad, device="cpu")


def _damaged(src, dest, how):
    import shutil

    shutil.copytree(src, dest)
    weights = dest / "vae" / "diffusion_pytorch_model.safetensors"
    if how == "missing weights":
        weights.unlink()
    elif how == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:len(weights.read_bytes()) // 2])
    elif how == "config not json":
        (dest / "vae" / "config.json").write_text("{not json")
    return dest


@pytest.mark.parametrize("how,pattern", [
    ("missing weights", "vae has no weights file.*copy the model folder again"),
    ("truncated weights", "diffusion_pytorch_model.safetensors is cut short.*copy the model folder again"),
    ("config not json", "config.json is not valid JSON.*copy the model folder again"),
])
def test_damaged_model_folders_are_one_line_before_loading(vae_folders, tmp_path, capfd, how, pattern):
    """A user's copy that lost or cut short its VAE weights, or whose config is not JSON, is refused
    by find_autoencoder (what live and render check up front) in one line naming the file, and
    diffusers prints nothing (it used to log its own lines and blame a missing .bin)."""
    from live.visuals.decoders import find_autoencoder

    bad = _damaged(vae_folders / "model", tmp_path / "my model", how)
    with pytest.raises(DecoderError, match=pattern) as info:
        find_autoencoder("vae", bad)
    assert "\n" not in str(info.value) and str(bad / "vae") in str(info.value)
    with pytest.raises(DecoderError, match=pattern):
        make_decoder("vae", bad, device="cpu")
    assert capfd.readouterr().err == ""


def test_a_single_file_checkpoint_folder_says_how_to_convert(vae_folders, tmp_path):
    import shutil

    (tmp_path / "dl").mkdir()
    weights = vae_folders / "standalone" / "diffusion_pytorch_model.safetensors"
    shutil.copy(weights, tmp_path / "dl" / "sd15.safetensors")
    with pytest.raises(DecoderError, match=r"single-file checkpoint \(sd15.safetensors\).*from_single_file"):
        make_decoder("vae", tmp_path / "dl", device="cpu")


def test_another_models_weights_in_the_vae_folder_are_refused(vae_folders, tmp_path, capfd):
    """A TAESD file copied over the VAE's: diffusers would load it with every tensor random (only a
    warning) and the show would decode noise; it is refused, naming the file."""
    import shutil

    bad = tmp_path / "swapped"
    shutil.copytree(vae_folders / "standalone", bad)
    name = "diffusion_pytorch_model.safetensors"
    shutil.copy(vae_folders / "taesd" / name, bad / name)
    with pytest.raises(DecoderError, match=r"does not hold the weights of the AutoencoderKL.*another model's file"):
        make_decoder("vae", bad, device="cpu")
    assert capfd.readouterr().err == ""


def test_a_bin_only_vae_folder_loads_without_diffusers_chatter(vae_folders, tmp_path):
    """Older copies hold diffusion_pytorch_model.bin only: diffusers said "An error occurred while
    trying to fetch FOLDER" before loading it fine (nothing is fetched); that line is dropped."""
    import logging

    class Keep(logging.Handler):
        def emit(self, record):
            said.append(record.getMessage())

    said: list[str] = []
    logger = logging.getLogger("diffusers.models.modeling_utils")  # where diffusers says it
    handler = Keep()
    logger.addHandler(handler)
    try:
        tiny_kl().save_pretrained(tmp_path / "old", safe_serialization=False)
        assert not list((tmp_path / "old").glob("*.safetensors"))
        dec = make_decoder("vae", tmp_path / "old", device="cpu")
    finally:
        logger.removeHandler(handler)
    assert dec.decode(latents()).shape == (1, 32, 48, 3)
    assert not [m for m in said if "An error occurred" in m]


def test_a_hub_id_is_never_fetched_and_the_message_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DecoderError, match="local folders only.*local_files_only.*--allow-download"):
        make_decoder("vae", "stabilityai/sd-turbo", device="cpu")


def test_a_hub_id_in_the_local_cache_loads_offline(vae_folders, tmp_path, monkeypatch):
    """What `precompute --allow-download` fetched is found by its hub id, from the cache only."""
    import shutil

    import huggingface_hub.constants

    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf" / "models--djs--tiny-sd"
    shutil.copytree(vae_folders / "model", repo / "snapshots" / sha)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    dec = make_decoder("vae", "djs/tiny-sd", device="cpu")
    assert dec.source == str(repo / "snapshots" / sha / "vae")
    with pytest.raises(DecoderError, match="not in the Hugging Face cache"):
        make_decoder("vae", "djs/other", device="cpu")


def test_a_home_relative_folder_with_spaces_loads(vae_folders, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copytree(vae_folders / "model", tmp_path / "my models" / "sd 1.5")
    dec = make_decoder("vae", "~/my models/sd 1.5", device="cpu")
    assert dec.decode(latents()).shape == (1, 32, 48, 3)


def test_device_and_dtype_choice():
    if not torch.cuda.is_available():
        assert pick_device() == torch.device("cpu") or pick_device().type == "mps"
        with pytest.raises(DeviceError, match="CUDA"):
            pick_device("cuda")
    with pytest.raises(DeviceError, match="not a torch device"):
        pick_device("gpu0")
    cpu = torch.device("cpu")
    assert pick_dtype(cpu) == torch.float32
    assert pick_dtype(torch.device("cuda"), "sd1") == torch.float16
    assert pick_dtype(cpu, dtype="bf16") == torch.bfloat16
    with pytest.raises(DeviceError, match="fp16"):
        pick_dtype(cpu, dtype="fp16")
    with pytest.raises(DecoderError, match="choose one of"):
        make_decoder("latent2rgb")
    with pytest.raises(DecoderError, match="cuda-graph"):
        DiffusersDecoder(tiny_taesd(), "tiny", "sd1", cpu, torch.float32, cuda_graph=True)


def test_bf16_and_channels_last_on_cpu(vae_folders):
    dec = make_decoder("tiny", vae_folders / "taesd", device="cpu", dtype="bf16", channels_last=True)
    ref = make_decoder("tiny", vae_folders / "taesd", device="cpu")
    z = latents()
    a, b = dec.decode(z), ref.decode(z)
    assert a.shape == b.shape and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 8  # bf16 is close, not equal


@pytest.mark.gpu
def test_fp16_cuda_graph_decode_matches_eager(vae_folders):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    eager = make_decoder("tiny", vae_folders / "taesd", device="cuda")
    graphed = make_decoder("tiny", vae_folders / "taesd", device="cuda", cuda_graph=True)
    assert eager.dtype == torch.float16 and eager.channels_last
    z = latents().cuda()
    for _ in range(2):
        assert np.abs(graphed.decode(z).astype(int) - eager.decode(z).astype(int)).max() <= 1


# ----- the worker ---------------------------------------------------------------------------


class GatedDecoder(Decoder):
    """Approx decode that records what it decoded and waits on a gate (a stand-in for a slow GPU)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.inner = ApproxDecoder()
        self.gate = threading.Event()
        self.gate.set()
        self.delay = delay
        self.seen: list[float] = []

    def _decode_unit(self, z):
        self.gate.wait(10)
        if self.delay:
            time.sleep(self.delay)
        self.seen.append(float(z.flatten()[0]))
        return self.inner._decode_unit(z)


def marked(value: float) -> torch.Tensor:
    z = torch.zeros(1, 4, 2, 2)
    z.view(-1)[0] = value
    return z


def wait_until(cond, timeout=10.0):
    end = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > end:
            raise AssertionError("timed out")
        time.sleep(0.005)


def test_worker_drops_stale_requests_and_never_backs_up():
    dec = GatedDecoder()
    dec.gate.clear()
    with DecodeWorker(dec) as worker:
        worker.request(marked(0), 0.0)
        wait_until(lambda: not worker.pending)  # the worker took it and is stuck in decode
        for i in range(1, 101):
            worker.request(marked(i), float(i))  # all while the decoder is busy
        assert worker.pending
        dec.gate.set()
        wait_until(lambda: worker.decoded == 2)
        time.sleep(0.1)
        assert dec.seen == [0.0, 100.0]  # the first, then only the newest
        assert worker.decoded == 2 and worker.dropped == 99 and not worker.pending
        older, newer = worker.frames()
        assert (older.display_time, newer.display_time) == (0.0, 100.0)
        assert newer.seq == older.seq + 1
        assert not newer.rgb.flags.writeable
        assert worker.latency > 0 and newer.latency_s >= newer.decode_s


def test_worker_survives_a_failing_decode():
    class Failing(Decoder):
        calls = 0

        def _decode_unit(self, z):
            Failing.calls += 1
            if Failing.calls == 2:
                raise RuntimeError("CUDA out of memory (simulated)")
            return ApproxDecoder()._decode_unit(z)

    with DecodeWorker(Failing()) as worker:
        for i in range(3):
            worker.request(marked(i), float(i))
            wait_until(lambda: not worker.pending)
            time.sleep(0.05)
        wait_until(lambda: worker.decoded == 2)
        assert worker.errors == 1 and "out of memory" in worker.last_error
        assert worker.alive
        assert worker.frames()[1].display_time == 2.0


def test_frames_are_immutable_values():
    f = Frame(np.zeros((2, 2, 3), np.uint8), 1.0, 1, 0.01)
    with pytest.raises(Exception):
        f.display_time = 2.0  # type: ignore[misc]
    worker = DecodeWorker(ApproxDecoder())
    assert worker.frames() == (None, None)
    frame = worker.decode_now(latents(1, 4, 2, 2), 5.0)
    assert worker.frames() == (None, frame) and frame.rgb.shape == (16, 16, 3)


def test_stop_returns_promptly_when_idle():
    worker = DecodeWorker(ApproxDecoder()).start()
    assert worker.alive
    start = time.perf_counter()
    worker.stop()
    assert not worker.alive and time.perf_counter() - start < 2.0


def test_worker_restores_the_switch_interval_it_lowered():
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        worker = DecodeWorker(ApproxDecoder()).start()
        assert sys.getswitchinterval() < 0.005  # the display loop gets the GIL back sooner
        worker.stop()
        assert sys.getswitchinterval() == pytest.approx(0.005)
    finally:
        sys.setswitchinterval(before)
