"""Checkpoint I/O (being written)."""


def load_model(path, device="cpu"):  # replaced by the checkpoint work
    raise NotImplementedError


def save_checkpoint(*args, **kwargs):  # replaced by the checkpoint work
    raise NotImplementedError
