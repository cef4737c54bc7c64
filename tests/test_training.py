"""The shared training loop: seeding, NaN guard, checkpoint/resume, evaluation pass."""

import numpy as np
import pytest
import torch
from torch import nn

from skclip_noise.training.device import (
    autocast_dtype,
    resolve_device,
    seed_from_random_state,
    seeded_torch,
)
from skclip_noise.training.loop import Trainer, evaluate


def _problem(n=96, d=5, k=3):
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.normal(size=(n, d)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, k, n))
    return X, y


def _make(seed=0, lr=0.1, epochs=4):
    with torch.random.fork_rng():
        torch.manual_seed(123)
        model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    return model, optimizer, scheduler


def _fit(trainer, epochs=4, on_epoch_end=None):
    X, y = _problem()
    dataset = torch.utils.data.TensorDataset(X, y)

    def batches(epoch):
        return torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True, generator=trainer.generator)

    def step(batch, epoch):
        inputs, targets = batch
        noise = torch.randn_like(inputs) * 0.01  # draws from torch's (forked) global RNG
        return nn.functional.cross_entropy(trainer.model(inputs + noise), targets)

    return trainer.fit(epochs, batches, step, on_epoch_end=on_epoch_end)


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_training_decreases_the_loss_and_records_history(rng_guard):
    model, optimizer, scheduler = _make()
    trainer = Trainer(model, optimizer, scheduler=scheduler, device="cpu", seed=0)
    history = _fit(trainer, epochs=4)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[0]["n_steps"] == 6
    assert history[-1]["lr"] < history[0]["lr"]  # cosine stepped per epoch


def test_same_seed_same_weights_other_seed_other_weights(rng_guard):
    runs = []
    for seed in (0, 0, 1):
        model, optimizer, scheduler = _make()
        _fit(Trainer(model, optimizer, scheduler=scheduler, device="cpu", seed=seed))
        runs.append(_weights(model))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_nan_loss_stops_with_a_clear_error():
    model, optimizer, _ = _make()
    trainer = Trainer(model, optimizer, device="cpu", seed=0)

    def step(batch, epoch):
        return trainer.model(batch).sum() * float("nan")

    with pytest.raises(FloatingPointError, match="epoch 1, step 1.*lower the learning rate"):
        trainer.fit(1, lambda epoch: [torch.ones(2, 5)], step)


def test_a_step_returning_none_is_skipped():
    model, optimizer, _ = _make()
    trainer = Trainer(model, optimizer, device="cpu", seed=0)
    before = _weights(model).clone()
    history = trainer.fit(1, lambda epoch: [torch.ones(2, 5)] * 3, lambda batch, epoch: None)
    assert history[0]["n_steps"] == 0
    assert torch.equal(before, _weights(model))


def test_step_metrics_are_averaged():
    model, optimizer, _ = _make()
    trainer = Trainer(model, optimizer, device="cpu", seed=0)

    def step(batch, epoch):
        return trainer.model(batch).sum() * 0, {"n_clean": float(batch.shape[0])}

    history = trainer.fit(1, lambda epoch: [torch.ones(2, 5), torch.ones(4, 5)], step)
    assert history[0]["n_clean"] == 3.0


class _Interrupt(Exception):
    pass


def test_checkpoint_and_resume_reproduce_an_uninterrupted_run(tmp_path, rng_guard):
    model, optimizer, scheduler = _make()
    _fit(Trainer(model, optimizer, scheduler=scheduler, device="cpu", seed=3))
    uninterrupted = _weights(model)

    path = tmp_path / "run" / "checkpoint.pt"
    model, optimizer, scheduler = _make()
    trainer = Trainer(model, optimizer, scheduler=scheduler, device="cpu", seed=3, checkpoint_path=path)

    def interrupt_after_second_epoch(epoch, record):
        if epoch == 1:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        _fit(trainer, on_epoch_end=interrupt_after_second_epoch)
    assert path.exists()  # epoch 1 was saved before the interruption

    model, optimizer, scheduler = _make()  # a fresh process would start from scratch
    trainer = Trainer(model, optimizer, scheduler=scheduler, device="cpu", seed=3, checkpoint_path=path)
    history = _fit(trainer)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert torch.equal(_weights(model), uninterrupted)
    assert not list(path.parent.glob("*.tmp"))


def test_a_checkpoint_of_another_seed_is_not_resumed(tmp_path):
    # A checkpoint binds the run that wrote it: another seed trains afresh (and overwrites it).
    path = tmp_path / "checkpoint.pt"
    model, optimizer, scheduler = _make()
    _fit(Trainer(model, optimizer, scheduler=scheduler, device="cpu", seed=0, checkpoint_path=path), epochs=1)
    model, optimizer, scheduler = _make()
    _fit(Trainer(model, optimizer, scheduler=scheduler, device="cpu", seed=1))
    expected = _weights(model)
    model, optimizer, scheduler = _make()
    with pytest.warns(UserWarning, match=r"checkpoint\.pt.*other random_state.*trains from scratch"):
        history = _fit(Trainer(model, optimizer, scheduler=scheduler, device="cpu", seed=1, checkpoint_path=path))
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert torch.equal(_weights(model), expected)


def test_a_checkpoint_of_another_fingerprint_is_not_resumed(tmp_path):
    path = tmp_path / "checkpoint.pt"
    model, optimizer, scheduler = _make()
    _fit(Trainer(model, optimizer, scheduler=scheduler, device="cpu", seed=0, checkpoint_path=path,
                 fingerprint={"data": "a", "parameters": "p"}))
    model, optimizer, scheduler = _make()
    with pytest.warns(UserWarning, match="other data"):
        history = _fit(Trainer(model, optimizer, scheduler=scheduler, device="cpu", seed=0, checkpoint_path=path,
                               fingerprint={"data": "b", "parameters": "p"}))
    assert len(history) == 4 and history[0]["n_steps"] == 6  # trained, not resumed to nothing


def test_a_finished_checkpoint_resumes_to_nothing(tmp_path):
    path = tmp_path / "checkpoint.pt"
    model, optimizer, scheduler = _make()
    _fit(Trainer(model, optimizer, scheduler=scheduler, device="cpu", seed=0, checkpoint_path=path))
    done = _weights(model)
    model, optimizer, scheduler = _make()
    history = _fit(Trainer(model, optimizer, scheduler=scheduler, device="cpu", seed=0, checkpoint_path=path))
    assert len(history) == 4
    assert torch.equal(_weights(model), done)


def test_bf16_autocast_on_cpu_trains():
    model, optimizer, scheduler = _make()
    trainer = Trainer(model, optimizer, device="cpu", seed=0, mixed_precision=True)
    assert trainer.amp_dtype == torch.bfloat16
    history = _fit(trainer, epochs=2)
    assert np.isfinite(history[-1]["loss"])
    assert next(model.parameters()).dtype == torch.float32  # weights stay fp32


def test_evaluate_is_deterministic_and_restores_the_mode():
    model, _, _ = _make()
    model.train()
    batches = [torch.ones(4, 5), torch.zeros(3, 5)]
    first = evaluate(model, batches, model, device="cpu")
    second = evaluate(model, batches, lambda b: (model(b), b.sum(1)), device="cpu")
    assert model.training
    assert first.shape == (7, 3)
    assert torch.equal(first, second[0])  # dropout off in eval mode
    assert second[1].shape == (7,)


def test_progress_bar_is_silent_at_verbose_0(capsys):
    model, optimizer, _ = _make()
    _fit(Trainer(model, optimizer, device="cpu", seed=0, verbose=0), epochs=1)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    _fit(Trainer(model, optimizer, device="cpu", seed=0, verbose=2, description="phase"), epochs=1)
    assert "phase 1/1" in capsys.readouterr().err


# ---------------------------------------------------------------------------- devices


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type in {expected, "mps"}
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("gpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_autocast_dtype_choices(monkeypatch):
    assert autocast_dtype("cpu", "auto") is None
    assert autocast_dtype("cpu", False) is None
    assert autocast_dtype("cpu", "fp16") is torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert autocast_dtype(torch.device("cuda"), "auto") is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert autocast_dtype(torch.device("cuda"), "auto") is torch.float16
    with pytest.raises(ValueError, match="mixed_precision"):
        autocast_dtype("cpu", "half-ish")


def test_seeding_helpers_leave_global_state_alone(rng_guard):
    assert seed_from_random_state(7) == seed_from_random_state(7)
    assert seed_from_random_state(np.random.RandomState(0)) == seed_from_random_state(0)
    with seeded_torch(5):
        a = torch.rand(3)
    with seeded_torch(5):
        b = torch.rand(3)
    assert torch.equal(a, b)


def test_random_state_none_does_not_draw_from_numpy_global_rng(rng_guard):
    seeds = {seed_from_random_state(None) for _ in range(3)}
    assert len(seeds) == 3


def test_checkpoint_leaves_out_frozen_parameters(tmp_path):
    model, optimizer, scheduler = _make()
    model[0].requires_grad_(False)  # a frozen "backbone" layer
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    path = tmp_path / "checkpoint.pt"
    _fit(Trainer(model, optimizer, device="cpu", seed=0, checkpoint_path=path), epochs=1)
    saved = torch.load(path, weights_only=False)["model"]
    assert set(saved) == {"3.weight", "3.bias"}
    fresh, _, _ = _make()
    fresh[0].requires_grad_(False)
    trainer = Trainer(fresh, torch.optim.SGD([p for p in fresh.parameters() if p.requires_grad], lr=0.1),
                      device="cpu", seed=0, checkpoint_path=path)
    _fit(trainer, epochs=1)  # resumes: the single epoch is already done
    assert torch.equal(fresh[3].weight, model[3].weight)
