"""Data-parallel training under ``torchrun``: PyTorch's process group, DDP and sampler.

Every estimator trains through :class:`~skclip_noise.training.loop.Trainer`. Started by
``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``MASTER_ADDR``),
the trainer joins the process group (NCCL on CUDA, gloo on the CPU), wraps the model in
:class:`torch.nn.parallel.DistributedDataParallel`, and every training loader built by
:func:`~skclip_noise.training.loader.make_loader` shards its samples with a
:class:`DistributedSampler` whose permutation is the same on every rank and changes
each epoch. ``batch_size`` stays the *global* batch: each of ``W`` ranks takes
``batch_size / W`` samples a step and DDP averages the gradients, so one step sees the
same samples and the same mean gradient as one process with a batch of ``batch_size``
drawn in the same order. Random draws do not depend on the rank either: each sample's
augmented view comes from its own seed (the run's, the epoch, the sample's index:
:class:`PerSampleSeeded`), and a step's per-sample draws are made for the whole global
batch and sliced (:func:`rank_share`), so a run on ``W`` ranks equals a run on one rank
under ``torchrun`` up to float tolerance (BatchNorm layers, which normalise each rank's
share of the batch, excepted; when the number of samples is not a multiple of ``W``,
the sampler repeats up to ``W - 1`` of them each epoch, as PyTorch's does, so that every
rank takes as many steps). Rank 0 alone writes checkpoints and shows progress; the epoch
metrics are averaged over ranks. Scoring passes (selection, validation, the fitted
outputs) run on every rank over all samples, so each rank ends with the same model.

Without those environment variables nothing here is active and training is unchanged.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = [
    "DistributedSampler",
    "PerSampleSeeded",
    "all_reduce_mean",
    "barrier",
    "check_global_batch_size",
    "distributed_device",
    "global_masked_mean",
    "init_from_environment",
    "is_distributed",
    "planned_world_size",
    "rank",
    "rank_share",
    "world_size",
    "wrap_model",
]

_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def init_from_environment(device):
    """Join the process group ``torchrun`` describes, once per process; no-op otherwise.

    Returns
    -------
    bool
        Whether training is distributed.
    """
    if dist.is_available() and not dist.is_initialized() and _started_by_torchrun():
        backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return is_distributed()


def is_distributed():
    """Whether this process is one rank of an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def rank():
    return dist.get_rank() if is_distributed() else 0


def world_size():
    return dist.get_world_size() if is_distributed() else 1


def _started_by_torchrun():
    """Whether ``torchrun`` started this process (it sets all of these variables)."""
    return all(variable in os.environ for variable in _TORCHRUN_VARIABLES)


def planned_world_size():
    """How many ranks training runs on: the process group's, or before it is joined the
    ``WORLD_SIZE`` that ``torchrun`` set; 1 otherwise."""
    if is_distributed():
        return world_size()
    if _started_by_torchrun():
        return int(os.environ["WORLD_SIZE"])
    return 1


def check_global_batch_size(batch_size, name="batch_size", n_ranks=None):
    """Refuse a global batch that the ranks cannot split evenly (each would take
    ``batch_size // W`` and a step would see fewer samples than one process does)."""
    n_ranks = planned_world_size() if n_ranks is None else n_ranks
    batch_size = int(batch_size)
    if n_ranks > 1 and batch_size % n_ranks:
        lower = max(n_ranks, batch_size // n_ranks * n_ranks)
        raise ValueError(
            f"{name}={batch_size} is the global batch of a step, split evenly over the {n_ranks} ranks torchrun "
            f"started: pass a multiple of {n_ranks} (e.g. {lower} or {lower + n_ranks})."
        )


def distributed_device(device):
    """Under ``torchrun`` on CUDA, each rank's own GPU (``cuda:LOCAL_RANK``)."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def wrap_model(model, device, *, find_unused_parameters=False):
    """``model`` in DistributedDataParallel when distributed (itself otherwise)."""
    if not is_distributed() or not any(p.requires_grad for p in model.parameters()):
        return model
    device = torch.device(device)
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=find_unused_parameters,
    )


def all_reduce_mean(values):
    """The mean over ranks of a dict of floats (the dict itself when not distributed)."""
    if not is_distributed() or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
    dist.all_reduce(tensor)
    return dict(zip(keys, (tensor / world_size()).tolist()))


def barrier():
    if is_distributed():
        dist.barrier()


class DistributedSampler(torch.utils.data.DistributedSampler):
    """torch's DistributedSampler that moves to the next epoch's permutation each time it
    is iterated, so a loader reused across epochs reshuffles without ``set_epoch`` calls."""

    def __iter__(self):
        indices = super().__iter__()
        self.set_epoch(self.epoch + 1)
        return indices


class PerSampleSeeded(torch.utils.data.Dataset):
    """``dataset`` whose items draw their random transforms from a seed of their own,
    ``(seed, the sampler's epoch, index)``, so a sample's view is the same whichever rank
    loads it (torch's RNG is forked around each item: the loader's stream is untouched)."""

    def __init__(self, dataset, seed, sampler):
        self.dataset, self.seed, self.sampler = dataset, int(seed), sampler

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(hash((self.seed, self.sampler.epoch, int(index))) % (2**63))
            return self.dataset[index]


def rank_share(draw, n_local):
    """This rank's share of per-sample random draws made for the whole global batch.

    ``draw(n)`` makes ``n`` draws; every rank makes those of the global batch
    (``n_local * world_size``, the distributed sampler giving every rank as many samples)
    and keeps the positions of its own samples, ``rank::world_size``. Without
    ``torchrun``: ``draw(n_local)``.
    """
    n_ranks = world_size()
    if n_ranks == 1:
        return draw(n_local)
    return draw(n_local * n_ranks)[rank()::n_ranks]


def global_masked_mean(values, mask):
    """The mean of ``values[mask]`` over the whole global batch, as this rank's term.

    The count of selected samples is summed over ranks; DDP averages the gradients over
    the ``W`` ranks, so each rank contributes ``W`` times its sum over that count. Zero
    (still in the graph) when nothing is selected anywhere.
    """
    count = mask.sum().to(values.dtype).detach()
    if is_distributed():
        dist.all_reduce(count)
    return values[mask].sum() * world_size() / count.clamp_min(1)
