"""DataLoader construction: samplers for DDP, worker seeding, pinned memory.

Seeding: the loader gets a ``torch.Generator`` seeded with ``seed + rank``; torch derives each worker's seed from it
(different per worker, and per epoch unless workers are persistent, in which case each worker's stream simply
continues). :func:`seed_worker` hands that seed to NumPy, ``random`` and the dataset's augmentation generator
(``dataset.reseed``). With ``workers=0`` the dataset is reseeded once with ``seed + rank``.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from yolocls.errors import DatasetError, InputError


def seed_worker(worker_id: int) -> None:  # noqa: ARG001 - DataLoader's worker_init_fn signature
    """worker_init_fn: seed NumPy, ``random`` and the dataset's own generator from torch's per-worker seed.

    Also turns off OpenCV's own thread pool in the worker: N workers x N cv2 threads oversubscribe the CPUs
    (torch already limits each worker to one intra-op thread).
    """
    import cv2

    cv2.setNumThreads(0)
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    info = torch.utils.data.get_worker_info()
    dataset = info.dataset if info is not None else None
    if dataset is not None and hasattr(dataset, "reseed"):
        dataset.reseed(seed)


def _rank() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("RANK", "0"))


def build_dataloader(dataset: Dataset, batch_size: int, shuffle: bool, workers: int, distributed: bool = False,
                     seed: int = 0, drop_last: bool = False) -> DataLoader:
    """A DataLoader for ``dataset`` (items ``(float32 [3,S,S] tensor, int)`` batch to ``([B,3,S,S], [B] int64)``).

    Args:
        batch_size: images per batch (per process when ``distributed``).
        shuffle: reshuffle every epoch (via the sampler when distributed).
        workers: worker processes; clamped to the CPU count (divided among local DDP processes). 0 = load in the
            main process. Workers are persistent (not re-forked every epoch).
        distributed: use a :class:`DistributedSampler` (needs an initialised process group); call ``loader.sampler.set_epoch(epoch)`` each epoch so shuffles differ.
        seed: base seed; each rank uses ``seed + rank``.
        drop_last: drop the last incomplete batch (and, when distributed, make ranks' shares equal by dropping).

    Pinned memory is used when CUDA is available.
    """
    if batch_size < 1:
        raise InputError(f"batch size must be >= 1, got {batch_size}")
    if workers < 0:
        raise InputError(f"workers must be >= 0, got {workers}")
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise DatasetError("the dataset is empty: nothing to load")
    if distributed and not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        raise InputError("distributed=True needs an initialised process group (torch.distributed.init_process_group)")
    rank = _rank() if distributed else 0
    local_procs = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))) if distributed else 1
    nw = min(workers, max(1, (os.cpu_count() or 1) // local_procs))
    sampler: DistributedSampler | None = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last) if distributed else None
    generator = torch.Generator()
    generator.manual_seed(seed + rank)
    if nw == 0 and hasattr(dataset, "reseed"):
        dataset.reseed(seed + rank)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=nw,
        pin_memory=torch.cuda.is_available(),
        drop_last=drop_last,
        persistent_workers=nw > 0,
        worker_init_fn=seed_worker,
        generator=generator,
    )
