"""Diagnostic: where mixed precision moves a short fit of a random-weight model.

    python benchmarks/diag_mixed_precision.py [--device cuda]

Fits the test suite's fast TurnClassifier (tiny open_clip model, random weights, 60
digits) in full precision on the CPU and in full and mixed precision on ``--device``,
and prints, against the CPU's fit: the share of training samples whose clean/noisy
selection agrees (``selection_``) and the mean absolute difference of ``predict_proba``
on 30 held-out digits. A selection that differs means rounding was amplified by a
discrete choice, not by the network.
``tests/test_cuda.py`` cites its figures (ROUNDING_AMPLIFIED).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)

    from sklearn.base import clone
    from test_common import fast_instance

    from skclip_noise import TurnClassifier
    from skclip_noise.datasets import load_digits_images

    images, labels = load_digits_images(as_strings=True)
    labels = labels.astype(str)
    X, y, X_test = images[:60], labels[:60], images[60:90]

    def fitted(device, precision):
        return clone(fast_instance(TurnClassifier)).set_params(device=device, mixed_precision=precision).fit(X, y)

    reference = fitted("cpu", False)
    print(f"{'fit':<28} selection agrees   predict_proba diff")
    for device, precision in [(args.device, False), (args.device, "bf16"), (args.device, "fp16"), ("cpu", "bf16")]:
        model = fitted(device, precision)
        agrees = np.mean(np.asarray(model.selection_) == np.asarray(reference.selection_))
        difference = np.abs(model.predict_proba(X_test) - reference.predict_proba(X_test)).mean()
        print(f"{device + ' ' + str(precision):<28} {agrees:>16.3f}   {difference:>18.4f}")


if __name__ == "__main__":
    main()
