"""Keep the weights of the epoch that scores best on validation data."""

from __future__ import annotations

import numpy as np

from .loop import cpu_state_dict

__all__ = ["BestEpoch", "accuracy"]


def accuracy(logits, codes):
    """Share of rows whose argmax equals the code.

    Examples
    --------
    >>> import torch
    >>> accuracy(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), [0, 0])
    0.5
    """
    return float((np.asarray(logits.argmax(1)) == np.asarray(codes)).mean())


class BestEpoch:
    """The best validation accuracy seen so far, its epoch and a CPU copy of its weights.

    Parameters
    ----------
    last_epoch : int
        Reported as :attr:`epoch` when no validation score was recorded (the last
        epoch's weights are kept then).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(1, 1)
    >>> best = BestEpoch(last_epoch=3)
    >>> best.update(1, 0.5, net), best.update(2, 0.4, net)
    (True, False)
    >>> best.epoch, best.accuracy
    (1, 0.5)
    """

    def __init__(self, last_epoch):
        self.accuracy = -1.0
        self.epoch = last_epoch
        self.state = None

    def update(self, epoch, accuracy, net):
        """Record ``net``'s weights if ``accuracy`` beats the best so far; say whether it did."""
        if accuracy <= self.accuracy:
            return False
        self.accuracy, self.epoch, self.state = float(accuracy), epoch, cpu_state_dict(net)
        return True

    def state_dict(self):
        """Everything it holds, for a training checkpoint (a resumed fit keeps the best
        epoch of the epochs before the interruption)."""
        return {"accuracy": self.accuracy, "epoch": self.epoch, "state": self.state}

    def load_state_dict(self, state):
        self.accuracy, self.epoch, self.state = float(state["accuracy"]), state["epoch"], state["state"]

    def restore(self, net):
        """Load the best weights into ``net`` (nothing when no score was recorded)."""
        if self.state is not None:
            net.load_state_dict(self.state)
