"""Exception types for user-facing errors.

Every error a user can cause (bad path, bad flag, bad file, bad array) raises a subclass of
:class:`YoloclsError`. The CLI turns these into one line on stderr and exit code 2; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations


class YoloclsError(Exception):
    """Base class of all user-facing yolocls errors. ``str(err)`` is a one-line message."""


class InputError(YoloclsError, ValueError):
    """A bad argument or array: wrong dtype, shape, stride, range or contradictory options."""


class UnknownModelError(YoloclsError, KeyError):
    """A model name that is not in the zoo."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CheckpointError(YoloclsError):
    """A checkpoint that is missing, truncated, corrupt or of an unknown format."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle that tries to call something outside the allowed set (nothing was executed)."""


class ImageError(YoloclsError):
    """A file that is not a decodable image."""


class DatasetError(YoloclsError):
    """A dataset folder that is missing, empty or not an ImageFolder tree."""


class MetadataError(YoloclsError):
    """Missing or malformed yolocls metadata in an exported model or sidecar."""


class FileWriteError(YoloclsError, OSError):
    """A file or folder the OS would not write (disk full, read-only, name too long, parent is a file, no permission).

    ``str(err)`` is one line naming the path the user gave and the fix; ``errno``/``filename`` are set as for
    ``OSError``.
    """

    def __str__(self) -> str:
        return str(self.strerror) if self.strerror else super().__str__()


class ExportError(YoloclsError):
    """An export that could not be produced."""


class VerificationError(ExportError):
    """An exported model whose outputs do not match PyTorch within tolerance."""


class BackendUnavailableError(YoloclsError):
    """A backend whose library is not installed or was not compiled into the extension."""


class EngineMismatchError(YoloclsError):
    """A TensorRT engine built for another TensorRT version or GPU than the running one."""


class ExtraMissingError(YoloclsError, ImportError):
    """A feature whose pip extra (``yolocls[train]``, ``[export]``, ...) is not installed; names the extra."""
