"""The training loop every torch estimator shares, and a deterministic evaluation pass.

An estimator describes one epoch as an iterable of batches and one step as a function
returning the loss; :class:`Trainer` does the rest: device placement, mixed precision
(autocast, with a gradient scaler for float16), progress bars, seeding without
touching the caller's RNG state, a check that stops on a NaN/inf loss, and an optional
checkpoint after every epoch from which an interrupted fit resumes.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Callable, Iterable

import numpy as np
import torch
from tqdm.auto import tqdm

from .._files import replaced_file
from .._warnings import warn_user
from . import distributed
from .device import autocast, autocast_dtype, seeded_torch
from .loader import make_loader  # re-exported: its old home
from .state import cpu_state_dict, load_trainable_state, trainable_state_dict  # re-exported: their old home

__all__ = [
    "Trainer",
    "cpu_state_dict",
    "evaluate",
    "load_trainable_state",
    "make_loader",
    "move_to_device",
    "trainable_state_dict",
]


def move_to_device(batch, device):
    """Move every tensor in a (nested) batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: move_to_device(v, device) for k, v in batch.items()}
    return batch


class Trainer:
    """Runs epochs of optimisation steps for one model.

    Parameters
    ----------
    model : torch.nn.Module
        Already on ``device``.
    optimizer : torch.optim.Optimizer
    scheduler : torch.optim.lr_scheduler.LRScheduler, default=None
        Stepped once per epoch.
    device : torch.device
    seed : int
        Seeds torch's RNG (forked, so the caller's state is restored afterwards),
        :attr:`generator` (for DataLoader shuffling and sampling in steps) and
        :attr:`rng` (a numpy Generator).
    mixed_precision : {"auto", True, False, "bf16", "fp16"}, default="auto"
        See :func:`skclip_noise.training.device.autocast_dtype`.
    verbose : int, default=0
        0 silences the progress bars.
    checkpoint_path : str or path-like, default=None
        When given, the full training state is written there after every epoch, and
        a later :meth:`fit` with the same path, seed and ``fingerprint`` resumes after
        the last saved epoch (a finished checkpoint resumes to no training). A
        checkpoint written with another seed or fingerprint is never resumed: the fit
        starts afresh and overwrites it, with a warning naming what differed.
    fingerprint : dict, default=None
        What the training is bound to (see
        :func:`skclip_noise.training.checkpoint.checkpoint_fingerprint`: a content
        hash of the data, the estimator's parameters, the backbone weights); stored in
        the checkpoint and compared on resume.
    max_grad_norm : float, default=None
        Clip the gradient norm when given.
    description : str, default="train"
        Progress bar label.
    find_unused_parameters : bool, default=False
        Under ``torchrun``: DDP's option for models whose steps leave some trainable
        parameters unused (AVL-Prompter's peers train one at a time).

    Attributes
    ----------
    module : torch.nn.Module
        What steps call to run the model: ``model`` itself, or under ``torchrun`` its
        DistributedDataParallel wrapper (:mod:`skclip_noise.training.distributed`), which
        averages the gradients over ranks.
    """

    def __init__(
        self,
        model,
        optimizer,
        *,
        device,
        seed,
        scheduler=None,
        mixed_precision="auto",
        verbose=0,
        checkpoint_path=None,
        max_grad_norm=None,
        description="train",
        fingerprint=None,
        find_unused_parameters=False,
    ):
        distributed.init_from_environment(device)
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.device = torch.device(device)
        self.seed = int(seed)
        self.amp_dtype = autocast_dtype(self.device, mixed_precision)
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.amp_dtype == torch.float16
        )
        self.verbose = verbose
        self.checkpoint_path = None if checkpoint_path is None else os.path.expanduser(os.fspath(checkpoint_path))
        self.max_grad_norm = max_grad_norm
        self.description = description
        self.fingerprint = None if fingerprint is None else dict(fingerprint)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.rng = np.random.default_rng(self.seed)
        self.history = []
        self.epoch = 0
        self.module = distributed.wrap_model(model, self.device, find_unused_parameters=find_unused_parameters)

    def autocast(self):
        """The autocast context of this trainer (for forward passes outside ``step``)."""
        return autocast(self.device, self.amp_dtype)

    def fit(
        self,
        n_epochs: int,
        batches: Callable[[int], Iterable],
        step: Callable,
        *,
        on_epoch_end: Callable | None = None,
        extra_state: dict | None = None,
    ):
        """Train for ``n_epochs`` epochs (or the ones left after a resume).

        Parameters
        ----------
        n_epochs : int
        batches : callable
            ``batches(epoch)`` returns the iterable of batches of that epoch
            (0-based); called inside the seeded context.
        step : callable
            ``step(batch, epoch)`` returns the scalar loss tensor, or a tuple
            ``(loss, metrics)`` with a dict of floats to average over the epoch.
            It runs under autocast; the batch is already on the device.
        on_epoch_end : callable, default=None
            ``on_epoch_end(epoch, record)`` may return a dict merged into the epoch's
            history record.
        extra_state : dict, default=None
            Objects with ``state_dict``/``load_state_dict`` saved in the checkpoint:
            everything besides the model, optimiser, scheduler and random streams that
            decides the result (e.g. a :class:`~skclip_noise.training.best_epoch.BestEpoch`,
            outputs recorded at the ends of epochs), so a resumed fit ends bit for bit
            like an uninterrupted one.

        Returns
        -------
        history : list of dict
            One record per epoch: ``epoch``, ``loss``, ``lr`` and the step metrics.
        """
        extra_state = extra_state or {}
        start = self._resume(extra_state)
        with seeded_torch(self.seed, self.device):
            if start > 0:
                torch.set_rng_state(self._resumed_torch_state)
            for epoch in range(start, n_epochs):
                record = self._run_epoch(epoch, n_epochs, batches(epoch), step)
                self._check_finite_weights(epoch)
                if self.scheduler is not None:
                    self.scheduler.step()
                if on_epoch_end is not None:
                    record.update(on_epoch_end(epoch, record) or {})
                self.history.append(record)
                self.epoch = epoch + 1
                self._save_checkpoint(extra_state)
        return self.history

    def _run_epoch(self, epoch, n_epochs, batches, step):
        self.model.train()
        totals, n_steps = {}, 0
        with progress_bar(batches, self.verbose if distributed.rank() == 0 else 0,
                          f"{self.description} {epoch + 1}/{n_epochs}") as progress:  # a Ctrl-C closes it
            for batch in batches:
                batch = move_to_device(batch, self.device)
                with self.autocast():
                    out = step(batch, epoch)
                progress.update(1)
                loss, metrics = out if isinstance(out, tuple) else (out, {})
                if loss is None:  # a step may skip, e.g. an empty selection
                    continue
                self._check_finite(loss, epoch, n_steps)
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                if self.max_grad_norm is not None:
                    self.scaler.unscale_(self.optimizer)
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                n_steps += 1
                values = {"loss": float(loss.detach()), **{k: float(v) for k, v in metrics.items()}}
                for key, value in values.items():
                    totals[key] = totals.get(key, 0.0) + value
                progress.set_postfix(loss=f"{values['loss']:.4f}", refresh=False)
        record = {"epoch": epoch + 1, "n_steps": n_steps}
        record.update(distributed.all_reduce_mean({k: v / max(n_steps, 1) for k, v in totals.items()}))
        record["lr"] = float(self.optimizer.param_groups[0]["lr"])
        return record

    def _check_finite(self, loss, epoch, step_index):
        if not torch.isfinite(loss.detach()).all():
            raise FloatingPointError(
                f"The training loss became {float(loss.detach())} at epoch {epoch + 1}, step "
                f"{step_index + 1}. {self._divergence_advice()}"
            )

    def _check_finite_weights(self, epoch):
        """The loss of a step is read before the step: an epoch's last step can leave NaN
        weights that no loss has shown, and a model that predicts NaN."""
        if not all(torch.isfinite(p.detach()).all() for p in self.model.parameters() if p.requires_grad):
            raise FloatingPointError(
                f"The model's weights became NaN or infinite at the end of epoch {epoch + 1}. "
                f"{self._divergence_advice()}"
            )

    def _divergence_advice(self):
        group = self.optimizer.param_groups[0]
        return (f"Training diverged: lower the learning rate (now {group['lr']:g}) or the weight decay "
                f"(now {group.get('weight_decay', 0):g}), or check the inputs for NaN/inf values.")

    # ------------------------------------------------------------------ checkpoints

    def _state(self, extra_state):
        return {
            "format": _CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "seed": self.seed,
            "fingerprint": self.fingerprint,
            "history": self.history,
            "model": trainable_state_dict(self.model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "generator": self.generator.get_state(),
            "numpy_rng": self.rng.bit_generator.state,
            "extra": {name: obj.state_dict() for name, obj in extra_state.items()},
        }

    def _save_checkpoint(self, extra_state):
        if self.checkpoint_path is None:
            return
        if distributed.rank() != 0:  # rank 0 writes; the others wait until it is on disk
            distributed.barrier()
            return
        os.makedirs(os.path.dirname(os.path.abspath(self.checkpoint_path)), exist_ok=True)
        try:  # an interruption or a full disk never leaves a half-written checkpoint
            with replaced_file(self.checkpoint_path, binary=True) as handle:
                torch.save(self._state(extra_state), handle)
        except (OSError, RuntimeError) as exc:  # torch's writer fails with a RuntimeError
            raise OSError(
                f"Could not write the checkpoint {self.checkpoint_path!r} ({exc}). Free disk space there, "
                "pass another checkpoint_path, or checkpoint_path=None to train without one."
            ) from exc
        distributed.barrier()

    def _resume(self, extra_state):
        path = self.checkpoint_path
        if path is None or not os.path.exists(path):
            return 0
        state = _read_checkpoint(path)
        differs = self._differences(state)
        if differs:
            warn_user(
                f"The checkpoint {path!r} was written by a fit with other {differs}, so it is not "
                "resumed: this fit trains from scratch and overwrites it. Pass another "
                "checkpoint_path to keep it.",
                UserWarning,
            )
            return 0
        fix = f"delete {path!r} (or pass another checkpoint_path) to start afresh"
        try:
            load_trainable_state(
                self.model, state["model"],
                mismatch_help=(
                    f"the checkpoint {path!r} does not fit this model (written for another number "
                    f"of classes, n_ctx, backbone or tuning?); {fix}"
                ),
            )
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scheduler is not None and state["scheduler"] is not None:
                self.scheduler.load_state_dict(state["scheduler"])
            self.scaler.load_state_dict(state["scaler"])
            self.generator.set_state(state["generator"])
            self.rng.bit_generator.state = state["numpy_rng"]
            for name, obj in extra_state.items():
                obj.load_state_dict(state["extra"][name])
        except ValueError as exc:
            if str(exc).startswith("The checkpoint"):
                raise
            detail = " ".join(str(exc).split())[:300]
            raise ValueError(f"The checkpoint {path!r} does not fit this model ({detail}); {fix}.") from exc
        except (RuntimeError, KeyError, TypeError) as exc:
            detail = " ".join(str(exc).split())[:300]
            raise ValueError(
                f"The checkpoint {path!r} does not fit this model (written for another number of "
                f"classes, n_ctx, backbone or tuning?): {type(exc).__name__}: {detail}; {fix}."
            ) from exc
        self._resumed_torch_state = state["torch_rng"]
        self.history = list(state["history"])
        self.epoch = int(state["epoch"])
        return self.epoch

    def _differences(self, state):
        """What the checkpoint ``state`` was written for that this training is not."""
        if state.get("format") != _CHECKPOINT_FORMAT:
            return f"checkpoint format (version {state.get('format')}, this version's {_CHECKPOINT_FORMAT})"
        if state.get("seed") != self.seed:
            return f"random_state (its seed {state.get('seed')}, this fit's {self.seed})"
        if self.fingerprint is None:
            return ""
        stored = state.get("fingerprint") or {}
        # Both ways: a part only one of them has (validation data) differs too.
        names = list(self.fingerprint) + [name for name in stored if name not in self.fingerprint]
        parts = [name for name in names if stored.get(name) != self.fingerprint.get(name)]
        return ", ".join(parts)


_CHECKPOINT_FORMAT = 2


def _read_checkpoint(path):
    """The state dict of a training checkpoint, or an error naming the file and the fix."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        raise ValueError(
            f"Cannot read the training checkpoint {path!r} ({type(exc).__name__}: {str(exc)[:200]}); "
            "it is truncated or not a checkpoint written by skclip_noise. Delete it (or pass another "
            "checkpoint_path) to start afresh."
        ) from exc
    required = {"epoch", "seed", "model", "optimizer", "generator", "numpy_rng", "torch_rng", "history"}
    if not isinstance(state, dict) or not required <= set(state):
        raise ValueError(
            f"The file {path!r} is not a training checkpoint written by skclip_noise (it lacks "
            f"{sorted(required - set(state)) if isinstance(state, dict) else 'a state dict'}). Delete it "
            "(or pass another checkpoint_path) to start afresh."
        )
    return state


@torch.inference_mode()
def evaluate(model, batches, forward, *, device, mixed_precision="auto", verbose=0, description="score",
             collected=None):
    """One deterministic pass in eval mode; outputs concatenated on the CPU.

    Parameters
    ----------
    model : torch.nn.Module
        Put in eval mode for the pass; its previous mode is restored.
    batches : iterable
        Batches (tensors or tuples of tensors).
    forward : callable
        ``forward(batch)`` returns a tensor or a tuple of tensors per batch.
    device : torch.device
    mixed_precision : see :func:`~skclip_noise.training.device.autocast_dtype`
    verbose : int, default=0
        A progress bar (``tqdm.auto``) from 1; kept once done from 2.
    description : str, default="score"
        The progress bar's label.
    collected : list or None, default=None
        Where each batch's outputs (a tuple of CPU tensors) are appended as they come:
        what a pass stopped half-way (Ctrl-C) had computed stays with the caller.

    Returns
    -------
    tensor or tuple of tensors
        Float outputs are returned as float32.
    """
    was_training = model.training
    model.eval()
    dtype = autocast_dtype(device, mixed_precision)
    outputs = [] if collected is None else collected
    try:
        with progress_bar(batches, verbose, description) as progress:
            for batch in batches:
                with autocast(device, dtype):
                    out = forward(move_to_device(batch, device))
                out = out if isinstance(out, tuple) else (out,)
                outputs.append(tuple(_to_cpu(o) for o in out))
                progress.update(1)
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("evaluate() got no batches.")
    merged = tuple(torch.cat(parts) for parts in zip(*outputs))
    return merged if len(merged) > 1 else merged[0]


def progress_bar(batches, verbose, description):
    """A progress bar counting the batches of ``batches`` (``update(1)`` per batch, closed
    on leaving its ``with`` block), or one whose calls do nothing when ``verbose`` is 0.
    Made around a count, never the iterable: ``tqdm.auto``'s bar calls ``iter()`` on what
    it wraps, which builds a DataLoader iterator nobody reads (a worker pool started, a
    draw of the loader's generator, so ``verbose`` changed the fit); and no tqdm object
    when not shown (even disabled, it starts a monitor thread and fixes multiprocessing's
    start method)."""
    if not verbose:
        return _HiddenBar()
    try:
        total = len(batches)
    except TypeError:  # an iterable of unknown length (a DataLoader over an IterableDataset)
        total = None
    return tqdm(total=total, desc=description, leave=verbose > 1)


class _HiddenBar:
    """:func:`progress_bar` when nothing is shown: tqdm's calls, doing nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def update(self, n=1):
        pass

    def set_postfix(self, **kwargs):
        pass


def _to_cpu(tensor):
    tensor = tensor.detach()
    if tensor.is_floating_point():
        tensor = tensor.float()
    return tensor.cpu()
