"""Fit every estimator with fixed seeds on real digits and dump its outputs, to compare
two checkouts bit for bit (a refactor must not move a number).

    git worktree add /tmp/before <commit>
    PYTHONPATH=/tmp/before .venv/bin/python benchmarks/compare_outputs.py /tmp/before.pkl
    .venv/bin/python benchmarks/compare_outputs.py /tmp/after.pkl
    .venv/bin/python benchmarks/compare_outputs.py --compare /tmp/before.pkl /tmp/after.pkl

It speaks both the API before the 0.1.0 consolidation (``model=``, ``peft=``) and after
(``tuning=``), so the consolidation itself can be checked.
"""
import inspect
import pickle
import sys

import numpy as np
import torch

if sys.argv[1] == "--compare":
    before, after = (pickle.load(open(path, "rb")) for path in sys.argv[2:4])
    for key in before:
        diff = np.abs(before[key].astype(float) - after[key].astype(float)).max()
        print(f"{key:16s} max |difference| {diff:.2e}  bit-identical: {np.array_equal(before[key], after[key])}")
    sys.exit(0)
torch.set_num_threads(1)
import skclip_noise as sk  # noqa: E402
from skclip_noise.datasets import load_digits_images  # noqa: E402

new = "tuning" in inspect.signature(sk.GMMLossDetector).parameters
X, y = load_digits_images(); X, y = X[:120], y[:120]
y_noisy, _ = sk.make_noisy_labels(y, "symmetric", 0.3, random_state=0)
names = [str(i) for i in range(10)]
Z = sk.ImageEmbedder("open_clip:skclip-tiny", None, device="cpu").fit_transform(X)
tiny = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu", random_state=0)
out = {}
out["gmm"] = sk.GMMLossDetector(device="cpu", random_state=0, per_class=True).fit(Z, y_noisy).clean_proba_
out["gmm_cv"] = sk.GMMLossDetector(device="cpu", random_state=0, cv=3).fit(Z, y_noisy).clean_proba_
out["small"] = sk.SmallLossDetector(device="cpu", random_state=0).fit(Z, y_noisy).clean_mask_
peft = dict(tuning="peft") if new else dict(model="peft")
out["gmm_peft"] = sk.GMMLossDetector(**tiny, **peft, epochs=2, batch_size=32).fit(X, y_noisy).clean_proba_
fr = dict(tuning="frozen") if new else dict(peft="none")
d = sk.DualPromptDetector(**tiny, **fr, n_ctx=4, epochs=3, batch_size=32, class_names=names).fit(X, y_noisy)
out["dual_frozen"] = d.clean_proba_; out["dual_frozen_pp"] = d.predict_proba(X[:20])
d = sk.DualPromptDetector(**tiny, n_ctx=4, n_vpt=2, epochs=2, batch_size=32, class_names=names).fit(X, y_noisy)
out["dual_vpt"] = d.clean_proba_
c = sk.DeftClassifier(sk.GMMLossDetector(**tiny, epochs=2), epochs=2, batch_size=32, **tiny).fit(X, y_noisy)
out["deft"] = c.predict_proba(X[:20]); out["deft_mask"] = c.clean_mask_
c = sk.TurnClassifier(**tiny, lp_epochs=3, ft_epochs=2, lp_lr=1e-2, ft_batch_size=32).fit(X, y_noisy)
out["turn"] = c.predict_proba(X[:20]); out["turn_proba"] = c.clean_proba_
c = sk.AVLPrompter(**tiny, prompt_depth=2, epochs=2, batch_size=32, class_names=names).fit(X, y_noisy)
out["avl"] = c.predict_proba(X[:20]); out["avl_proba"] = c.clean_proba_
out["label_match"] = sk.LabelMatchDetector("open_clip:skclip-tiny", None, device="cpu", class_names=names).fit(Z, y_noisy).clean_proba_
pickle.dump({k: np.asarray(v) for k, v in out.items()}, open(sys.argv[1], "wb"))
print("done", sys.argv[1])
