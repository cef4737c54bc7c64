"""Exceptions raised by skclip_noise."""

__all__ = ["PretrainedWeightsUnavailableError"]


class PretrainedWeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be fetched (no network, offline mode, unknown file).

    The message says how to pass a local checkpoint instead, and names the
    weights that need no download (``backbone="torchvision:mobilenet_v2",
    pretrained="offline"``), in Python's words.

    Parameters
    ----------
    message : str
        The message, with the advice as Python arguments.
    cli_message : str, default=None
        The same message with the advice as ``skclip-noise`` flags
        (``--backbone ... --pretrained ...``); the command line prints it.
        None means ``message``.

    Attributes
    ----------
    cli_message : str
        The message for the command line.

    Examples
    --------
    Every failed weight download ends in this error (a ``RuntimeError``), whose
    message says how to pass a local checkpoint instead, and which weights work
    offline:

    >>> from skclip_noise import PretrainedWeightsUnavailableError
    >>> from skclip_noise.backbones.hub import hub_download_guard
    >>> try:
    ...     with hub_download_guard("the 'openai' weights", "Pass a local checkpoint path.",
    ...                             host="localhost"):
    ...         raise OSError("no network")
    ... except PretrainedWeightsUnavailableError as error:
    ...     print(error)
    ...     print(error.cli_message)
    Could not fetch the 'openai' weights (...OSError: no network). Pass a local checkpoint
    path. Or, with no download at all, use real ImageNet weights that ship offline:
    backbone="torchvision:mobilenet_v2", pretrained="offline" (as `skclip-noise demo` does)...
    Could not fetch the 'openai' weights (...OSError: no network). Pass a local checkpoint
    path. Or, with no download at all, use real ImageNet weights that ship offline:
    --backbone torchvision:mobilenet_v2 --pretrained offline (as `skclip-noise demo` does)...
    """

    def __init__(self, message, *, cli_message=None):
        super().__init__(message)
        self.cli_message = message if cli_message is None else cli_message
