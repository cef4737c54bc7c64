"""The DataLoader every estimator reads its batches through."""

from __future__ import annotations

import torch

from . import distributed

__all__ = ["make_loader"]

#: What torch's errors say when DataLoader workers hand over more than /dev/shm holds.
_SHARED_MEMORY = ("shared memory", "unable to write to file </torch_")


def make_loader(dataset, *, batch_size, shuffle=False, generator=None, num_workers=0, pin_memory=False):
    """A DataLoader that never draws from torch's global RNG.

    Iterating a DataLoader draws its workers' base seed from the global RNG unless it
    has a generator of its own; without ``generator`` a fixed-seed one is used, so
    evaluation passes are deterministic and leave the caller's random stream alone.
    A shuffled (training) loader under ``torchrun`` gives each rank its share of every
    global batch of ``batch_size`` (:mod:`skclip_noise.training.distributed`).
    """
    # numpy integers (a grid search's np.arange) pass the parameter checks; torch takes only int.
    batch_size, num_workers = int(batch_size), int(num_workers)
    if shuffle and distributed.is_distributed():
        n_ranks = distributed.world_size()
        distributed.check_global_batch_size(batch_size, n_ranks=n_ranks)
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))  # the same on every rank
        sampler = distributed.DistributedSampler(dataset, num_replicas=n_ranks, rank=distributed.rank(),
                                                 shuffle=True, seed=seed)
        dataset = distributed.PerSampleSeeded(dataset, seed, sampler)
        return _Loader(dataset, batch_size=batch_size // n_ranks, sampler=sampler,
                                           num_workers=num_workers, pin_memory=pin_memory,
                                           generator=torch.Generator().manual_seed(seed))
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    if shuffle and len(dataset) > 1 and len(dataset) % batch_size == 1:
        # A last training batch of one sample: BatchNorm cannot train on it (a CNN tower at a small
        # input side ends in a 1x1 map), so it joins the batch before.
        batches = _NoLoneLastBatch(torch.utils.data.RandomSampler(dataset, generator=generator), batch_size)
        return _Loader(dataset, batch_sampler=batches, num_workers=num_workers,
                                           pin_memory=pin_memory, generator=generator)
    return _Loader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=generator,
    )


class _NoLoneLastBatch(torch.utils.data.Sampler):
    """The batches of ``sampler``, the last one merged into the one before when it would
    hold a single sample."""

    def __init__(self, sampler, batch_size):
        self.sampler, self.batch_size = sampler, batch_size

    def __iter__(self):
        batches = list(torch.utils.data.BatchSampler(self.sampler, self.batch_size, drop_last=False))
        if len(batches) > 1 and len(batches[-1]) == 1:
            lone = batches.pop()
            batches[-1] = batches[-1] + lone
        return iter(batches)

    def __len__(self):
        n_batches = -(-len(self.sampler) // self.batch_size)
        return n_batches - 1 if n_batches > 1 and len(self.sampler) % self.batch_size == 1 else n_batches


class _Loader(torch.utils.data.DataLoader):
    """A DataLoader whose workers running out of shared memory is one error naming the
    settings to change, not a worker's traceback."""

    def __iter__(self):
        batches = super().__iter__()
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except RuntimeError as exc:
                if self.num_workers and any(words in str(exc) for words in _SHARED_MEMORY):
                    raise RuntimeError(
                        f"The {self.num_workers} DataLoader worker(s) ran out of shared memory (/dev/shm, "
                        "through which they hand over batches; Docker gives a container 64 MB unless run with "
                        "--shm-size). Pass num_workers=0, or a smaller batch_size, or give the machine more "
                        "shared memory."
                    ) from None
                raise
            yield batch
