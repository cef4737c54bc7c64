"""Data-parallel training as ``torchrun`` runs it: 2 CPU processes on the gloo backend.

Each scenario runs in fresh processes with torchrun's environment variables, once with
2 ranks and once with 1; every rank saves what it ended with."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

pytestmark = pytest.mark.slow

TINY = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (48, 16, 16), dtype=np.uint8)
    features = rng.normal(size=(96, 8)).astype(np.float32)
    labels = np.repeat(np.arange(4), 24)
    features[np.arange(96), labels] += 2.0
    return images, features, labels


def _scenario(name, out):
    images, features, labels = _data()
    from skclip_noise import AVLPrompter, DeftClassifier, DualPromptDetector, GMMLossDetector, TurnClassifier
    from skclip_noise.training.loop import Trainer, make_loader

    if name == "trainer":
        torch.manual_seed(0)
        model = torch.nn.Linear(8, 4)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        trainer = Trainer(model, optimizer, device="cpu", seed=0)
        dataset = torch.utils.data.TensorDataset(torch.as_tensor(features), torch.as_tensor(labels))
        loader = make_loader(dataset, batch_size=16, shuffle=True, generator=trainer.generator)
        history = trainer.fit(3, lambda epoch: loader,
                              lambda batch, epoch: torch.nn.functional.cross_entropy(trainer.module(batch[0]), batch[1]))
        np.savez(out, weight=model.weight.detach().numpy(), loss=[r["loss"] for r in history])
    elif name == "gmm":
        detector = GMMLossDetector(tuning="frozen", epochs=3, batch_size=16, random_state=0).fit(features, labels)
        np.savez(out, clean_proba=detector.clean_proba_)
    else:
        estimator = {
            "deft": lambda: DeftClassifier("passthrough", **TINY, epochs=2, batch_size=16, random_state=0),
            "dual_prompt": lambda: DualPromptDetector(**TINY, n_ctx=2, n_vpt=2, epochs=2, batch_size=16,
                                                      random_state=0),
            "turn": lambda: TurnClassifier(**TINY, lp_epochs=2, ft_epochs=1, ft_batch_size=16, random_state=0),
            "avl": lambda: AVLPrompter(**TINY, epochs=2, warmup_epochs=1, batch_size=16, prompt_depth=2,
                                       random_state=0),
        }[name]()
        estimator.fit(images, np.array(["cat", "dog", "car", "boot"])[labels[::2]])
        np.savez(out, clean_proba=estimator.clean_proba_)


def _worker(rank, world, port, name, folder):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    torch.set_num_threads(1)
    ddp = torch.nn.parallel.DistributedDataParallel
    forward, calls = ddp.forward, []

    def counted(self, *args, **kwargs):
        calls.append(len(args[-1]))  # the batch each step runs through DDP on this rank
        return forward(self, *args, **kwargs)

    ddp.forward = counted
    _scenario(name, os.path.join(folder, f"{name}-w{world}-r{rank}.npz"))
    np.save(os.path.join(folder, f"{name}-w{world}-r{rank}-ddp.npy"), np.array(calls))
    import torch.distributed as dist

    dist.destroy_process_group()


def _run(name, world, folder):
    mp.start_processes(_worker, args=(world, _free_port(), name, str(folder)), nprocs=world, start_method="spawn")
    results = [dict(np.load(folder / f"{name}-w{world}-r{rank}.npz")) for rank in range(world)]
    for rank, result in enumerate(results):
        result["ddp_batches"] = np.load(folder / f"{name}-w{world}-r{rank}-ddp.npy")
    return results


def test_two_ranks_train_like_one_process_on_a_deterministic_step(tmp_path):
    two, (one,) = _run("trainer", 2, tmp_path), _run("trainer", 1, tmp_path)
    np.testing.assert_array_equal(two[0]["weight"], two[1]["weight"])  # DDP keeps the ranks in step
    np.testing.assert_allclose(two[0]["weight"], one["weight"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(two[0]["loss"], one["loss"], rtol=1e-5)  # the epoch loss is the mean over ranks


def test_a_loss_detector_on_two_ranks_equals_one(tmp_path):
    two, (one,) = _run("gmm", 2, tmp_path), _run("gmm", 1, tmp_path)
    np.testing.assert_array_equal(two[0]["clean_proba"], two[1]["clean_proba"])
    np.testing.assert_allclose(two[0]["clean_proba"], one["clean_proba"], atol=1e-5)


@pytest.mark.parametrize("name", ["deft", "dual_prompt", "turn", "avl"])
def test_every_training_estimator_on_two_ranks_equals_one(name, tmp_path):
    # Augmented views are seeded per sample and per-sample draws made for the global
    # batch, so the ranks' shares add up to one rank's run under torchrun.
    (rank0, rank1), (one,) = _run(name, 2, tmp_path), _run(name, 1, tmp_path)
    np.testing.assert_array_equal(rank0["clean_proba"], rank1["clean_proba"])
    np.testing.assert_allclose(rank0["clean_proba"], one["clean_proba"], atol=1e-4)
    # Every step went through DistributedDataParallel, on half of the global batch of 16.
    for rank in (rank0, rank1):
        assert len(rank["ddp_batches"]) > 0 and rank["ddp_batches"].max() <= 8 * 3, rank["ddp_batches"]
