"""Exceptions raised by skclip_noise."""

__all__ = ["PretrainedWeightsUnavailableError"]


class PretrainedWeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be fetched (no network, offline mode, unknown file).

    The message says how to pass a local checkpoint instead.
    """
