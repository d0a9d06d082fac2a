"""Training pieces: rigid-flow loss, optical-flow masks, triplet data, and a tiny end-to-end fit that exports a
loadable checkpoint (runs on the bundled real sample, no ../shared needed)."""

from __future__ import annotations

import logging
import pickle
import shutil

import cv2
import lightning as L
import numpy as np
import pytest
import torch

from ss3d_core.checkpoint import load_checkpoint
from ss3d_core.losses.flow_consistency import flow_consistency_loss, rigid_flow
from training.data.augmentation import CropWindow, crop_resize_triplet, sample_crop_window
from training.data.clip_frames import clip_frames_from_images
from training.fit.compiled_network import compiled_parts
from training.fit.datamodule import ClipDataModule, TripletDataset
from training.fit.export import ExportCheckpoint
from training.fit.module import SS3DLightningModule
from training.labels.optical_flow import forward_backward_mask, pair_flows


def test_rigid_flow_identity_and_sideways_translation():
    K = torch.tensor([[[100.0, 0.0, 47.5], [0.0, 100.0, 31.5], [0.0, 0.0, 1.0]]])
    depth = torch.full((1, 1, 64, 96), 5.0)
    assert rigid_flow(depth, torch.eye(4)[None], K).abs().max() < 1e-4
    T = torch.eye(4)[None].clone()
    T[0, 0, 3] = -0.2  # the source camera 0.2 to the right: points shift left by fx·b/d = 4 px
    flow = rigid_flow(depth, T, K)
    assert torch.allclose(flow[:, 0], torch.full((1, 64, 96), -4.0), atol=1e-3)
    assert flow[:, 1].abs().max() < 1e-4
    valid = torch.ones(1, 1, 64, 96)
    assert flow_consistency_loss(flow, flow, valid) < 0.01
    assert flow_consistency_loss(flow, torch.zeros_like(flow), valid) == pytest.approx(4.03 / 96, rel=0.01)


def _small(frames):
    return np.stack([cv2.resize(f, (96, 64), interpolation=cv2.INTER_AREA) for f in frames])


def test_optical_flow_and_forward_backward_mask_on_real_frames(sample_frames):
    frames = _small(sample_frames)
    fwd, fwd_ok, bwd, bwd_ok = pair_flows(frames)
    assert fwd.shape == (2, 64, 96, 2) and fwd.dtype == np.float16 and fwd_ok.shape == (2, 64, 96)
    assert fwd_ok.mean() > 0.5 and bwd_ok.mean() > 0.5
    # A backward flow that contradicts the forward one fails the check everywhere it matters.
    contradicting = fwd[0].astype(np.float32) + 5.0
    assert forward_backward_mask(fwd[0].astype(np.float32), contradicting).mean() < 0.1


def test_triplet_flip_mirrors_images_and_flows(sample_frames):
    frames = _small(sample_frames)
    clip = clip_frames_from_images("sample", list(frames))
    plain = TripletDataset([clip], [(0, 1)], augment=False)[0]
    torch.manual_seed(3)
    flipped = None
    for _ in range(20):  # p = 0.5 per draw
        item = TripletDataset([clip], [(0, 1)], augment=True)[0]
        if not torch.equal(item["frames"], plain["frames"]):
            flipped = item
            break
    assert flipped is not None
    assert torch.equal(flipped["frames"], plain["frames"].flip(-1))
    assert torch.allclose(flipped["flows"][:, 0], -plain["flows"][:, 0].flip(-1))
    assert torch.equal(flipped["flow_valid"], plain["flow_valid"].flip(-1))
    assert plain["flows"].shape == (2, 2, 64, 96) and plain["flow_valid"].shape == (2, 1, 64, 96)


def test_crop_window_stays_inside_and_covers_the_requested_fraction():
    rng = np.random.default_rng(0)
    windows = [sample_crop_window(64, 96, 0.7, rng) for _ in range(200)]
    for w in windows:
        assert 0 <= w.x0 and w.x0 + w.width <= 96 and 0 <= w.y0 and w.y0 + w.height <= 64
        assert 0.69 * 96 <= w.width <= 96 and 0.69 * 64 <= w.height <= 64
    # x and y fractions are drawn independently: the pixel aspect ratio changes.
    assert len({round(w.width / 96 - w.height / 64, 2) for w in windows}) > 10
    assert sample_crop_window(64, 96, 1.0, rng) == CropWindow(0, 0, 96, 64)
    with pytest.raises(ValueError, match="min_fraction"):
        sample_crop_window(64, 96, 0.0, rng)


def test_crop_resize_scales_flow_into_the_resized_pixels(sample_frames):
    frames = _small(sample_frames)
    fwd, fwd_ok, bwd, bwd_ok = pair_flows(frames)
    flows = [fwd[0].astype(np.float32), bwd[0].astype(np.float32)]
    window = CropWindow(x0=12, y0=8, width=48, height=48)  # half the width, three quarters of the height
    out_frames, out_flows, out_valid = crop_resize_triplet(frames, flows, [fwd_ok[0], bwd_ok[0]], window)
    assert out_frames.shape == frames.shape and out_frames.dtype == np.uint8
    expected = cv2.resize(frames[1, 8:56, 12:60], (96, 64), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(out_frames[1], expected)
    # A flow vector (u, v) in the crop becomes (2u, 4/3 v) pixels of the resized image.
    resampled = cv2.resize(flows[0][8:56, 12:60], (96, 64), interpolation=cv2.INTER_LINEAR)
    assert np.allclose(out_flows[0], resampled * [2.0, 4.0 / 3.0], atol=1e-5)
    uniform = [np.full((64, 96, 2), [1.5, -0.75], np.float32)]
    _, scaled, _ = crop_resize_triplet(frames, uniform, [np.ones((64, 96), bool)], window)
    assert np.allclose(scaled[0], [3.0, -1.0])
    assert out_valid[0].dtype == bool and out_valid[0].shape == (64, 96)


def test_crop_augmentation_keeps_the_sample_consistent(sample_frames):
    """A cropped sample still has the layout of an un-cropped one, and validation samples are never cropped."""
    frames = _small(sample_frames)
    clip = clip_frames_from_images("sample", list(frames))
    plain = TripletDataset([clip], [(0, 1)], augment=False, min_crop_fraction=0.7)[0]
    assert torch.equal(plain["frames"], TripletDataset([clip], [(0, 1)], augment=False)[0]["frames"])
    torch.manual_seed(0)
    cropped = TripletDataset([clip], [(0, 1)], augment=True, min_crop_fraction=0.7)[0]
    assert cropped["frames"].shape == plain["frames"].shape and cropped["flows"].shape == plain["flows"].shape
    assert not torch.equal(cropped["frames"], plain["frames"])
    torch.manual_seed(0)
    again = TripletDataset([clip], [(0, 1)], augment=True, min_crop_fraction=0.7)[0]
    assert torch.equal(again["frames"], cropped["frames"])  # reproducible under a fixed torch seed
    with pytest.raises(ValueError, match="min_crop_fraction"):
        TripletDataset([clip], [(0, 1)], augment=True, min_crop_fraction=1.5)


def test_pixel_aspect_follows_the_source_size_and_the_crop(sample_frames):
    """fy/fx of a square-pixel camera in the sample's pixels: the resize's ratio, times the crop's y/x scale ratio
    (a flip changes nothing)."""
    frames = _small(sample_frames)
    h, w = frames.shape[1:3]
    clip = clip_frames_from_images("sample", list(frames))
    plain = TripletDataset([clip], [(0, 1)], augment=False, source_sizes=[(640, 480)])[0]
    assert float(plain["pixel_aspect"]) == pytest.approx((h / 480) / (w / 640))
    assert "pixel_aspect" not in TripletDataset([clip], [(0, 1)], augment=False)[0]
    torch.manual_seed(1)
    dataset = TripletDataset([clip], [(0, 1)], augment=True, min_crop_fraction=0.6, source_sizes=[(640, 480)])
    aspects = {round(float(dataset[0]["pixel_aspect"]), 6) for _ in range(6)}
    assert len(aspects) > 1 and all(0.6 * 0.762 < a < 0.762 / 0.6 for a in aspects)
    with pytest.raises(ValueError, match="source sizes"):
        TripletDataset([clip], [(0, 1)], augment=False, source_sizes=[])


def test_crop_scale_is_the_magnification_of_the_samples_focal_lengths(sample_frames):
    """crop_scale is 1 without a crop; with one, the sample's calibrated focal lengths are the uncropped frame's times
    crop_scale (training/fit/clip_intrinsics.py undoes crops with it)."""
    clip = clip_frames_from_images("sample", list(_small(sample_frames)))
    known = [0.8, 1.1, 0.5, 0.5]
    assert torch.equal(TripletDataset([clip], [(0, 1)], augment=False)[0]["crop_scale"], torch.ones(2))
    torch.manual_seed(2)
    dataset = TripletDataset([clip], [(0, 1)], augment=True, min_crop_fraction=0.6, known_intrinsics=known)
    items = [dataset[0] for _ in range(4)]
    assert all(1.0 <= float(s) <= 1.0 / 0.6 + 0.05 for item in items for s in item["crop_scale"])
    assert any(float(item["crop_scale"][0]) > 1.01 for item in items)
    for item in items:
        assert torch.allclose(item["intrinsics"][:2], torch.tensor(known[:2]) * item["crop_scale"], rtol=1e-5)


@pytest.fixture(scope="module")
def sample_corpus(tmp_path_factory):
    """A one-clip corpus (the bundled real dashcam sample) and one training cache for this module's fits: the first
    DataModule that prepares its data decodes the clip and computes its flows, the others memory-map that entry (the
    cache is keyed by the clip's content and the training size, so every fit here reads the same frames)."""
    from conftest import SAMPLE_VIDEO

    root = tmp_path_factory.mktemp("sample_corpus")
    corpus = root / "clips"
    (corpus / "sample").mkdir(parents=True)
    shutil.copy(SAMPLE_VIDEO, corpus / "sample" / "clip.mp4")
    (corpus / "clips.csv").write_text("name,kind,label,consecutive,licence\nsample,video,translating,True,MIT\n")
    return corpus, root / "cache"


def _sample_data(sample_corpus) -> ClipDataModule:
    """A fresh DataModule over :func:`sample_corpus` at 96×64, 5 Hz."""
    corpus, cache = sample_corpus
    return ClipDataModule(root=str(corpus), height=64, width=96, target_rate_hz=5.0, batch_size=4, val_fraction=0.2,
                          cache_dir=str(cache))


def test_tiny_fit_exports_a_loadable_checkpoint(tmp_path, tiny_config, sample_corpus):
    data = _sample_data(sample_corpus)
    model = SS3DLightningModule(net=tiny_config, lr=1e-3, flow_weight=2.0, epipolar_weight=2.0,
                                triangulation_weight=0.1)
    out = tmp_path / "ckpt" / "tiny_fit"
    trainer = L.Trainer(max_steps=3, limit_val_batches=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, callbacks=[ExportCheckpoint(str(out), command="test")],
                        num_sanity_val_steps=0, val_check_interval=3)
    trainer.fit(model, datamodule=data)
    net, meta = load_checkpoint(out)
    assert meta.architecture == tiny_config and meta.training["clips"] == ["sample"]
    assert meta.training["command"] == "test" and "val/total" in meta.metrics["validation"]
    assert all(np.isfinite(meta.metrics["validation"][f"val/{term}"]) for term in ("flow", "epipolar", "triangulation"))
    assert all(np.isfinite(meta.intrinsics_prior))
    with torch.no_grad():
        assert torch.isfinite(net(torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)).depth).all()


def test_untrained_reference_export_is_seeded_and_copies_the_architecture(tmp_path, tiny_config):
    from ss3d_core.checkpoint import CheckpointMetadata, save_checkpoint
    from ss3d_core.network import SS3DNet
    from training.fit.export import main as export_main

    like = tmp_path / "trained"
    save_checkpoint(SS3DNet(tiny_config).eval(), like, CheckpointMetadata(tiny_config, (0.8, 1.2, 0.5, 0.5)))
    for name in ("a", "b"):
        assert export_main(["--untrained", "--like", str(like), "--seed", "3", "--out", str(tmp_path / name)]) == 0
    net_a, meta = load_checkpoint(tmp_path / "a")
    net_b, _ = load_checkpoint(tmp_path / "b")
    assert meta.architecture == tiny_config and meta.training["global_step"] == 0
    assert all(torch.equal(p, q) for p, q in zip(net_a.state_dict().values(), net_b.state_dict().values()))
    with torch.no_grad():
        out = net_a(torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96))
    assert torch.allclose(out.T_prev_cur, torch.eye(4)[None], atol=1e-6)


def test_init_from_starts_from_a_checkpoint_and_refuses_another_architecture(tmp_path, tiny_config):
    from dataclasses import replace

    from ss3d_core.checkpoint import CheckpointError, CheckpointMetadata, save_checkpoint
    from ss3d_core.network import SS3DNet

    torch.manual_seed(1)
    source = SS3DNet(tiny_config).eval()
    save_checkpoint(source, tmp_path / "stage1", CheckpointMetadata(tiny_config, (0.7, 1.1, 0.5, 0.5)))
    module = SS3DLightningModule(net=tiny_config, init_from=str(tmp_path / "stage1"))
    assert all(torch.equal(p, q) for p, q in zip(module.net.state_dict().values(), source.state_dict().values()))
    assert torch.allclose(module.intrinsics_prior, torch.tensor([0.7, 1.1, 0.5, 0.5]))
    with pytest.raises(CheckpointError, match="architecture"):
        SS3DLightningModule(net=replace(tiny_config, motion_channels=16), init_from=str(tmp_path / "stage1"))


def test_clip_focal_estimates_train_validate_and_resume_through_lightning(tmp_path, tiny_config, sample_corpus):
    """The consistency term on cropped square-pixel batches: the first step seeds, later steps and validation score,
    and a Lightning checkpoint carries the estimates to a resumed module."""
    torch.manual_seed(0)
    model = SS3DLightningModule(net=tiny_config, lr=1e-3, square_pixels=True, clip_focal_consistency_weight=1.0)
    corpus, cache = sample_corpus
    data = ClipDataModule(root=str(corpus), height=64, width=96, target_rate_hz=5.0, batch_size=4, val_fraction=0.2,
                          cache_dir=str(cache), min_crop_fraction=0.7)
    trainer = L.Trainer(max_steps=2, limit_val_batches=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, num_sanity_val_steps=0, val_check_interval=2)
    trainer.fit(model, datamodule=data)
    assert np.isfinite(float(trainer.callback_metrics["train/clip_focal_consistency"]))
    assert np.isfinite(float(trainer.callback_metrics["val/clip_focal_consistency"]))
    estimate = model.clip_focals.estimate("sample")
    assert estimate is not None and torch.isfinite(estimate).all()
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    resumed = SS3DLightningModule.load_from_checkpoint(tmp_path / "last.ckpt", weights_only=False)  # its hparams
    assert resumed.clip_focals.state_dict() == model.clip_focals.state_dict()


def test_square_pixels_train_the_published_K_and_need_the_pixel_aspect(tiny_config, sample_corpus):
    torch.manual_seed(0)
    model = SS3DLightningModule(net=tiny_config, lr=1e-3, epipolar_weight=1.0, square_pixels=True)
    data = _sample_data(sample_corpus)
    trainer = L.Trainer(max_steps=2, limit_val_batches=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, num_sanity_val_steps=0, val_check_interval=2)
    trainer.fit(model, datamodule=data)
    # The prior is the median of square-pixel K: fy/fx in network pixels is the sample video's (320×180 -> 96×64).
    fx_n, fy_n = model.intrinsics_prior[:2].tolist()
    assert (fy_n * 64) / (fx_n * 96) == pytest.approx((64 / 180) / (96 / 320), rel=1e-4)
    batch = next(iter(data.train_dataloader()))
    del batch["pixel_aspect"]
    with pytest.raises(ValueError, match="pixel_aspect"):
        model._step(batch, augment=False)


def test_motion_only_stage_trains_the_motion_head_and_keeps_depth_exactly(tiny_config, sample_corpus):
    torch.manual_seed(0)
    model = SS3DLightningModule(net=tiny_config, lr=1e-2, epipolar_weight=1.0, motion_only=True)
    frozen = {k: v.clone() for k, v in model.net.state_dict().items() if not k.startswith("motion_head.")}
    head = {k: v.clone() for k, v in model.net.motion_head.state_dict().items()}
    trainer = L.Trainer(max_steps=3, limit_val_batches=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, num_sanity_val_steps=0, val_check_interval=3)
    trainer.fit(model, datamodule=_sample_data(sample_corpus))
    after = model.net.state_dict()
    assert all(torch.equal(after[k], v) for k, v in frozen.items())  # weights and batch-norm statistics
    assert any(not torch.equal(model.net.motion_head.state_dict()[k], v) for k, v in head.items())
    assert np.isfinite(float(trainer.callback_metrics["val/epipolar"]))
    with pytest.raises(ValueError, match="epipolar_weight"):
        SS3DLightningModule(net=tiny_config, motion_only=True)


def test_a_domain_expert_trains_only_on_its_clips(tmp_path, caplog, sample_frames):
    corpus = tmp_path / "clips"
    for name in ("near", "far"):
        (corpus / name / "frames").mkdir(parents=True)
        for k, frame in enumerate(_small(sample_frames)):
            cv2.imwrite(str(corpus / name / "frames" / f"{k:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    (corpus / "clips.csv").write_text(
        "name,kind,label,consecutive,licence\nnear,frames,translating,True,MIT\nfar,frames,translating,True,MIT\n"
    )
    data = ClipDataModule(root=str(corpus), clips=["near"], height=64, width=96, target_rate_hz=2.0,
                          cache_dir=str(tmp_path / "cache"))
    data.setup()
    assert data.clip_names() == ["near"]
    with caplog.at_level(logging.WARNING, logger="training.fit.datamodule"):
        with pytest.raises(RuntimeError, match="no usable clip"):  # both clips are 'translating'
            ClipDataModule(root=str(corpus), clips=["near"], labels=["static"], height=64, width=96,
                           cache_dir=str(tmp_path / "cache")).setup()
    assert "['near'] left out by the MVS filter / labels / consecutive_only" in caplog.text
    with pytest.raises(ValueError, match=r"not in .*: \['typo'\]"):
        ClipDataModule(root=str(corpus), clips=["near", "typo"], height=64, width=96,
                       cache_dir=str(tmp_path / "cache")).setup()


def test_illumination_augmentation_is_one_field_per_sample_on_the_network_input_only(tiny_config):
    plain = SS3DLightningModule(net=tiny_config)
    lit = SS3DLightningModule(net=tiny_config, illumination_augmentation=True)
    assert len(lit.color_aug) == len(plain.color_aug) + 2
    frames = torch.rand(6, 1, 3, 32, 48).repeat(1, 3, 1, 1, 1)  # three identical frames per sample
    torch.manual_seed(0)
    out = lit.color_aug(frames)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])  # same field on the triplet
    assert not torch.equal(out, frames) and out.min() >= 0 and out.max() <= 1


def test_cached_fundamental_matrices_follow_crops_and_flips(sample_frames):
    """The cached F of each flow direction is mapped with the augmentation's pixel map: the augmented flow still
    satisfies it (Sampson distance on trusted pixels stays at the level of the un-augmented sample)."""
    from ss3d_core.losses.epipolar import flow_sampson_distance

    clip = clip_frames_from_images("sample", [cv2.resize(f, (224, 128), interpolation=cv2.INTER_AREA)
                                              for f in sample_frames])
    plain = TripletDataset([clip], [(0, 1)], augment=False)[0]

    def median_sampson(item):
        d = flow_sampson_distance(item["flows"].double(), item["fundamental"].double())
        return float(d.reshape(2, 1, 128, 224)[item["flow_valid"] > 0].median())

    assert plain["fundamental"].shape == (2, 3, 3) and plain["inlier_fraction"].min() > 0.5
    reference = median_sampson(plain)
    assert reference < 0.5
    torch.manual_seed(0)
    for _ in range(6):  # crops and flips drawn at random
        item = TripletDataset([clip], [(0, 1)], augment=True, min_crop_fraction=0.6)[0]
        assert median_sampson(item) < 2 * reference + 0.1


def test_two_process_ddp_on_cpu_trains_from_the_cache(tmp_path, tiny_config, sample_corpus):
    """DDP with 2 CPU processes (gloo): prepare_data builds the cache once (or finds it built by this module's other
    fits), both ranks memory-map it, train a few steps on their own shards, and rank 0 exports a checkpoint whose
    intrinsics prior gathers both ranks."""
    data = _sample_data(sample_corpus)
    data.prepare_data()
    model = SS3DLightningModule(net=tiny_config, lr=1e-3, flow_weight=2.0, triangulation_weight=0.1)
    out = tmp_path / "ddp" / "tiny"
    trainer = L.Trainer(max_steps=2, limit_val_batches=1, accelerator="cpu", devices=2, strategy="ddp_spawn",
                        logger=False, enable_checkpointing=False, enable_progress_bar=False, num_sanity_val_steps=0,
                        val_check_interval=2, callbacks=[ExportCheckpoint(str(out), command="ddp test")])
    trainer.fit(model, datamodule=data)
    _, meta = load_checkpoint(out)
    assert meta.training["global_step"] == 2 and all(np.isfinite(meta.intrinsics_prior))
    assert np.isfinite(meta.metrics["validation"]["val/total"])


def test_each_export_carries_the_prior_of_its_own_validation(tmp_path, tiny_config, sample_corpus):
    """ExportCheckpoint writes after the module updated ``intrinsics_prior`` from the validation just run (it used to
    export in a hook that runs before the module's, carrying the previous validation's prior)."""
    import json

    out = tmp_path / "ckpt" / "tiny"
    seen = []

    class Probe(L.Callback):  # runs after ExportCheckpoint (callbacks run in list order)
        def on_validation_end(self, trainer, pl_module):
            exported = json.loads(out.with_suffix(".json").read_text())["intrinsics_prior"]
            seen.append((exported, pl_module.intrinsics_prior.tolist()))

    model = SS3DLightningModule(net=tiny_config, lr=1e-2, flow_weight=2.0)
    trainer = L.Trainer(max_steps=4, limit_val_batches=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, num_sanity_val_steps=0, val_check_interval=2,
                        callbacks=[ExportCheckpoint(str(out), command="test"), Probe()])
    trainer.fit(model, datamodule=_sample_data(sample_corpus))
    assert len(seen) == 2
    for exported, current in seen:
        assert exported == pytest.approx(current, rel=1e-6)


def _real_triplet_batch(sample_frames, height: int, width: int) -> dict:
    frames = [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in sample_frames]
    clip = clip_frames_from_images("sample", frames)
    return torch.utils.data.default_collate([TripletDataset([clip], [(0, 1)], augment=False)[0]])


@pytest.fixture(scope="module")
def fitted_reference(sample_frames, tiny_config):
    """A real triplet batch, the float32 module fitted to it (20 Adam steps, seed 0) and its loss terms in eval mode.
    Fitted first because an untrained network's zero motion warps every border pixel onto the image edge, where any
    rounding flips it in or out of the image."""
    batch = _real_triplet_batch(sample_frames, tiny_config.input_height, tiny_config.input_width)
    torch.manual_seed(0)
    reference = SS3DLightningModule(net=tiny_config, flow_weight=2.0, automask=False, loss_scales=1)
    optimiser = torch.optim.Adam(reference.parameters(), lr=1e-2)
    for _ in range(20):
        terms, _ = reference._step(batch, augment=False)
        optimiser.zero_grad()
        terms["total"].backward()
        optimiser.step()
    reference.eval()  # batch-norm statistics of the stored weights
    with torch.no_grad():
        expected, _ = reference._step(batch, augment=False)
    return batch, reference.state_dict(), expected


@pytest.mark.parametrize("channels_last", [False, True])
def test_faster_step_settings_keep_the_loss(fitted_reference, tiny_config, channels_last):
    """bf16 autocast of the network (emulated where the CPU has no bf16) and channels-last memory give the loss of
    the float32 step on a real triplet, within bf16's rounding (the float32 network fitted to the triplet once for
    both memory layouts, :func:`fitted_reference`)."""
    batch, state, expected = fitted_reference
    fast = SS3DLightningModule(net=tiny_config, flow_weight=2.0, automask=False, loss_scales=1,
                               network_precision="bf16", channels_last=channels_last)
    fast.load_state_dict(state)
    fast.eval()  # the same network and batch-norm statistics as the reference
    with torch.no_grad():
        got, _ = fast._step(batch, augment=False)
    for term in ("total", "photometric", "smoothness", "flow"):
        assert got[term].dtype == torch.float32
        assert got[term].item() == pytest.approx(expected[term].item(), rel=0.01), term


def test_compile_network_compiles_the_parts_the_step_runs_at_setup_and_keeps_the_keys(tiny_config):
    """``compile_network`` compiles the encoder, depth decoder and motion head (what the step calls; not
    ``SS3DNet.forward``) at ``setup``, again after the pickling of a ``ddp_spawn`` run (which drops compiled
    wrappers), and keeps the state dict keys, so checkpoints and exports load as before. No compiled code runs here:
    building the Inductor kernels took 100-155 s on 2 cores, and benchmarks/training_throughput.py --compile runs the
    compiled step."""
    eager = SS3DLightningModule(net=tiny_config)
    compiled = SS3DLightningModule(net=tiny_config, compile_network=True)
    assert compiled_parts(compiled.net) == []  # nothing until setup
    compiled.setup("fit")
    assert compiled_parts(compiled.net) == ["Encoder", "DepthDecoder", "MotionHead"]
    spawned = pickle.loads(pickle.dumps(compiled))
    assert compiled_parts(spawned.net) == []
    spawned.setup("fit")
    assert compiled_parts(spawned.net) == ["Encoder", "DepthDecoder", "MotionHead"]
    eager.setup("fit")
    assert compiled_parts(eager.net) == []
    assert list(compiled.state_dict()) == list(spawned.state_dict()) == list(eager.state_dict())


def test_network_precision_auto_uses_bf16_only_where_it_is_native(monkeypatch):
    import training.fit.precision as precision

    monkeypatch.setattr(precision, "bf16_is_native", lambda device_type: device_type == "cuda")
    assert precision.resolve_precision("auto", "cpu") == "fp32"
    assert precision.resolve_precision("auto", "cuda") == "bf16"
    assert precision.resolve_precision("fp32", "cuda") == "fp32"
    with pytest.raises(ValueError, match="network_precision"):
        SS3DLightningModule(network_precision="fp16")
