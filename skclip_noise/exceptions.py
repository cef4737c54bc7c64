"""Exceptions raised by skclip_noise."""

__all__ = ["PretrainedWeightsUnavailableError"]


class PretrainedWeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be fetched (no network, offline mode, unknown file).

    The message says how to pass a local checkpoint instead.

    Examples
    --------
    Every failed weight download ends in this error (a ``RuntimeError``), whose
    message says how to pass a local checkpoint instead:

    >>> from skclip_noise import PretrainedWeightsUnavailableError
    >>> from skclip_noise.backbones.hub import hub_download_guard
    >>> try:
    ...     with hub_download_guard("the 'openai' weights", "Pass a local checkpoint path.",
    ...                             host="localhost"):
    ...         raise OSError("no network")
    ... except PretrainedWeightsUnavailableError as error:
    ...     print(error)
    Could not fetch the 'openai' weights (...OSError: no network). Pass a local checkpoint path.
    """
