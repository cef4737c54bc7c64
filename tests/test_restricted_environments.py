"""Bug hunt: skclip_noise in restricted environments, as users meet them in containers, on
clusters and on laptops: no writable home, a read-only working directory and install
directory, ``TMPDIR`` pointing nowhere, process start methods other than fork (macOS and
Windows use ``spawn``; Python 3.14 moves Linux to ``forkserver``), joblib's worker
processes (``n_jobs``), a small ``/dev/shm``, thread settings, ``CUDA_VISIBLE_DEVICES=""``
and the library's own environment variable.

Expectation throughout: the library works, or refuses early with a clear message naming
the setting to change; it never silently computes something else.

Checked by hand and not pinned here (too slow or not the library's to fix): training
estimators with ``num_workers=2`` under ``spawn`` work (``GMMLossDetector(tuning="full")``
27 s on 2 cores, because every epoch and evaluation pass starts fresh workers that re-import
torch); a script without an ``if __name__ == "__main__":`` guard under ``spawn`` fails
with torch's "DataLoader worker exited unexpectedly" while Python prints its own guard
advice in the worker's stderr; a Hugging Face download into an unwritable ``HF_HOME``
cannot be emulated without a network (huggingface_hub contacts the hub before it creates
its cache folder).
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest
import torch
from conftest import TINY_CLIP, cli_exit, image_files

from skclip_noise import GMMLossDetector, ImageEmbedder

TINY_EMBEDDER = {k: v for k, v in TINY_CLIP.items() if k != "random_state"}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _base_env(**extra):
    """The environment of a fresh interpreter: offline, one thread, no cache folders set."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("TORCH_HOME", "XDG_CACHE_HOME", "HF_HOME", "PYTHONPATH")}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONWARNINGS="ignore")
    env.update(extra)
    return env


def _write_jpeg(path, seed=0, side=48):
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=95)
    return str(path)


def _truncated_jpeg(path, seed=0):
    """A JPEG cut to two thirds of its bytes: PIL refuses it unless LOAD_TRUNCATED_IMAGES."""
    _write_jpeg(path, seed)
    data = open(path, "rb").read()
    with open(path, "wb") as handle:
        handle.write(data[: len(data) * 2 // 3])
    return str(path)


# ------------------------------------------------------------ read-only folders
# Root writes through permissions, so as root the folders are made read-only by bind
# mounts in a private mount namespace (``unshare -m``: nothing changes outside the
# command), the install directory (this checkout and its .venv) too; another user gets
# ``chmod 555`` folders (the install directory then stays as it is).


@pytest.fixture
def read_only_run(tmp_path):
    """``run(argv, cwd, read_only=(...), env=...)``: ``python -m skclip_noise.cli ARGV`` with
    ``read_only`` folders (and, as root, the install directory) not writable."""
    if os.name != "posix":
        pytest.skip("POSIX permissions needed")
    as_root = os.geteuid() == 0
    unshare = shutil.which("unshare")
    if as_root:
        if unshare is None:
            pytest.skip("as root, read-only folders need unshare (util-linux) for a private mount namespace")
        probe = subprocess.run([unshare, "-m", "sh", "-c", f"mount --bind {tmp_path} {tmp_path} && "
                                f"mount -o remount,bind,ro {tmp_path} && ! touch {tmp_path}/probe"],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            pytest.skip(f"cannot make a read-only bind mount here: {probe.stderr.strip()[-300:]}")
    changed = []

    def run(argv, cwd, read_only, **env):
        command = [sys.executable, "-m", "skclip_noise.cli", *argv]
        environment = _base_env(**env)
        if as_root:
            mounts = " && ".join(f"mount --bind {shlex.quote(str(d))} {shlex.quote(str(d))} && "
                                 f"mount -o remount,bind,ro {shlex.quote(str(d))}"
                                 for d in [*read_only, REPO])
            # cd again: the working directory given to Popen is the folder under the new mount
            command = [unshare, "-m", "sh", "-c",
                       f"{mounts} && cd {shlex.quote(str(cwd))} && exec {shlex.join(command)}"]
        else:
            for folder in read_only:
                os.chmod(folder, 0o555)
                changed.append(folder)
        return subprocess.run(command, cwd=str(cwd), env=environment, capture_output=True, text=True, timeout=240)

    yield run
    for folder in changed:
        os.chmod(folder, 0o755)


def test_demo_in_a_read_only_working_directory_refuses_before_any_work(read_only_run, tmp_path):
    """``skclip-noise demo`` writes into ``./skclip-noise-demo`` by default. Run from a
    folder the user cannot write (a container's read-only root, a read-only project
    checkout), it must stop at once with one line naming ``--output-dir``, not a traceback
    after the fit. Passing: ``check_output_dir`` probes the folder first."""
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    cwd.mkdir(), home.mkdir()
    result = read_only_run(["demo", "--n-samples", "60"], cwd, read_only=(cwd, home),
                           HOME=str(home), TMPDIR=str(tmp_path / "missing-tmp"))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(error) == 1 and "--output-dir" in error[0] and "skclip-noise-demo" in error[0], result.stderr
    assert os.listdir(cwd) == []


def test_demo_runs_with_a_read_only_home_cwd_and_install_and_no_tmpdir(read_only_run, tmp_path):
    """A batch job in a container: a read-only ``HOME``, ``TMPDIR`` naming a missing folder,
    ``CUDA_VISIBLE_DEVICES=""``, the package, its virtual environment and the offline weights
    on a read-only file system, a read-only working directory, and an ``--output-dir`` that
    can be written. The demo (real offline MobileNetV2 weights, no download) must run to the
    end and write only into ``--output-dir``. Passing: no default path of the library,
    torch or torchvision is written on this route (``import skclip_noise`` writes nothing)."""
    cwd, home, out = tmp_path / "cwd", tmp_path / "home", tmp_path / "out"
    for folder in (cwd, home, out):
        folder.mkdir()
    result = read_only_run(["demo", "--n-samples", "60", "--output-dir", str(out / "demo"), "--quiet"], cwd,
                           read_only=(cwd, home), HOME=str(home), TMPDIR=str(tmp_path / "missing-tmp"),
                           CUDA_VISIBLE_DEVICES="")
    assert result.returncode == 0, result.stderr[-3000:]
    assert {"label_issues.csv", "report.html", "report.txt"} <= set(os.listdir(out / "demo"))
    assert os.listdir(cwd) == [] and os.listdir(home) == []
    assert os.listdir(out) == ["demo"]


# ---------------------------------------------------- weights and caches under $HOME


def test_torchvision_download_into_an_unwritable_home_names_torch_home(tmp_path, monkeypatch):
    """``pretrained=True`` on a torchvision backbone downloads into torch's cache,
    ``$TORCH_HOME``, by default ``~/.cache/torch``. On a cluster node whose home is not
    writable (emulated: ``HOME`` is a regular file, so nothing can be created under it;
    the network is up: the reachability probe says so), the fix is one environment
    variable: ``TORCH_HOME=/scratch/...``.

    Now: ``PretrainedWeightsUnavailableError: Could not fetch torchvision 'mobilenet_v2'
    weights 'DEFAULT' (NotADirectoryError: ... '<home>/.cache'). Download https://... where a
    network is available and pass its local path``: the cause is blamed on the network, and
    ``TORCH_HOME`` is never named (``backbones/loading.py``, ``_load_torchvision``, through
    ``hub_download_guard``, which words every failure as a failed fetch).
    Should: say that torch's download folder cannot be written and name ``TORCH_HOME``.
    """
    from skclip_noise import PretrainedWeightsUnavailableError
    from skclip_noise.backbones import hub

    home = tmp_path / "home-is-a-file"
    home.write_text("")
    for name in ("TORCH_HOME", "XDG_CACHE_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(hub, "host_reachable", lambda host, port=443: True)  # the network is up
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    with pytest.raises(PretrainedWeightsUnavailableError) as info:
        ImageEmbedder("torchvision:mobilenet_v2", pretrained=True, device="cpu").fit()
    message = str(info.value)
    assert str(home) in message  # the folder it could not create is shown...
    assert "TORCH_HOME" in message, f"the setting to change is not named: {message}"


def test_documented_home_cache_dir_in_an_unwritable_home_warns_and_still_embeds(tmp_path, monkeypatch):
    """The embedder guide's example passes ``cache_dir="~/.cache/skclip-embeddings"``. With
    no writable home the embeddings must still come out (the cache is an optimisation),
    with one warning naming ``cache_dir``. Passing."""
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    monkeypatch.setenv("HOME", str(home))
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    expected = ImageEmbedder(**TINY_EMBEDDER).fit_transform(images)
    with pytest.warns(UserWarning, match="cache_dir='~/.cache/skclip-embeddings' cannot be used") as caught:
        got = ImageEmbedder(**TINY_EMBEDDER, cache_dir="~/.cache/skclip-embeddings").fit_transform(images)
    assert len([w for w in caught if "cache_dir" in str(w.message)]) == 1
    np.testing.assert_allclose(got, expected, atol=1e-6)


# ------------------------------------------------------ worker processes: spawn, loky

_SPAWN_SCRIPT = """
import json, multiprocessing, os, sys, warnings
import numpy as np

def outcome(make, X):
    try:
        return {"ok": make().fit_transform(X).tolist()}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:600]}

def main(folder, cut):
    from PIL import ImageFile
    from skclip_noise import ImageEmbedder

    tiny = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu", batch_size=4)
    good = sorted(os.path.join(folder, name) for name in os.listdir(folder))
    out = {"start_method": multiprocessing.get_start_method()}
    out["plain"] = [outcome(lambda: ImageEmbedder(**tiny, num_workers=workers), good) for workers in (0, 1)]
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # what a notebook cell or another library may set
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["truncated"] = [outcome(lambda: ImageEmbedder(**tiny, num_workers=workers), good[:3] + [cut])
                            for workers in (0, 1)]
    print(json.dumps(out))

if __name__ == "__main__":
    multiprocessing.set_start_method("spawn", force=True)
    main(sys.argv[1], sys.argv[2])
"""


@pytest.fixture(scope="module")
def spawned_run(tmp_path_factory):
    """One run of :data:`_SPAWN_SCRIPT` (a user's script with its ``__main__`` guard,
    ``set_start_method("spawn")``): its JSON results."""
    folder = tmp_path_factory.mktemp("spawn")
    images = folder / "images"
    image_files(images, 8)
    cut = _truncated_jpeg(folder / "cut.jpg")
    script = folder / "user_script.py"
    script.write_text(textwrap.dedent(_SPAWN_SCRIPT))
    proc = subprocess.run([sys.executable, str(script), str(images), cut], cwd=str(folder), env=_base_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_dataloader_workers_work_under_the_spawn_start_method(spawned_run):
    """macOS and Windows start processes with ``spawn`` (Python 3.14's Linux default is
    ``forkserver``): the datasets and transforms sent to ``num_workers`` DataLoader workers
    must pickle, and give what ``num_workers=0`` gives. Passing: embedding image files in a
    spawned worker equals the single-process result. (Training views in spawned workers,
    ``DeftClassifier(num_workers=2)`` and ``GMMLossDetector(tuning="full", num_workers=2)``,
    were checked by hand: they work, but take 10-30 s here.)"""
    assert spawned_run["start_method"] == "spawn"
    single, workers = spawned_run["plain"]
    assert "ok" in single and "ok" in workers, spawned_run["plain"]
    np.testing.assert_allclose(workers["ok"], single["ok"], atol=1e-5)


def test_pil_settings_the_library_honours_reach_spawned_dataloader_workers(spawned_run):
    """``data/decoding.py``: "PIL's ``ImageFile.LOAD_TRUNCATED_IMAGES`` ... is honoured, but
    never silently" (with a warning). A notebook sets it to True and embeds a folder with
    one truncated JPEG, under ``spawn`` (macOS, Windows), with DataLoader workers
    (``num_workers=1`` here, to keep the test short; 2 behaves the same).

    Now: ``num_workers=0`` embeds every image (as documented) but ``num_workers=1`` raises
    ``ImageReadError: Cannot read image file '.../cut.jpg': image file is truncated``: a
    spawned worker starts from a fresh interpreter, where PIL's module-level setting is
    back to False. (Under fork it works, so the same script behaves differently on macOS
    and Linux.) Root cause: ``ImageDataset`` (``data/inputs.py``) decodes with whatever PIL
    globals the decoding process has; ``make_loader`` (``training/loop.py``) passes no
    ``worker_init_fn``. Should: the parent's PIL settings travel with the dataset (captured
    at construction, applied in the worker), so the result does not depend on
    ``num_workers`` or the start method.
    """
    single, workers = spawned_run["truncated"]
    assert "ok" in single, single  # honoured in the main process
    assert "ok" in workers, f"with num_workers=1 under spawn: {workers.get('error')}"
    np.testing.assert_allclose(workers["ok"], single["ok"], atol=1e-5)


def _outcome(embedder, X):
    try:
        return embedder.fit_transform(X)
    except Exception as exc:  # noqa: BLE001 - the outcome is compared, whatever it is
        return f"{type(exc).__name__}: {str(exc).split(':')[0]}"


# MAX_IMAGE_PIXELS first: an error in a worker makes joblib restart its workers, and the
# test after this one needs workers started in its own folder.
@pytest.mark.parametrize("setting", ["MAX_IMAGE_PIXELS", "LOAD_TRUNCATED_IMAGES"])
def test_pil_settings_reach_the_n_jobs_worker_processes(setting, tmp_path, monkeypatch):
    """``n_jobs`` on every estimator that embeds splits the images into shards embedded in
    joblib's worker processes (loky, whatever the start method: fresh interpreters). PIL's
    process-wide settings must apply there as in the caller's process:
    ``LOAD_TRUNCATED_IMAGES = True`` (honoured with a warning, ``data/decoding.py``) and
    ``Image.MAX_IMAGE_PIXELS`` (the library's own "too large" error tells users to raise it;
    a service lowers it to refuse decompression bombs).

    Now: ``n_jobs=1`` honours them (a truncated JPEG is embedded; a 32x32 image over a
    400-pixel limit is refused as too large) and ``n_jobs=2`` does not (the truncated JPEG
    raises ``ImageReadError``; the over-limit images are embedded). Root cause:
    ``ImageEmbedder._transform_in_shards`` / ``_embed_shard`` (``embedder.py``) send only the
    estimator's parameters to the workers, whose PIL has its defaults. Should: send the
    caller's PIL settings with each shard and apply them there.
    """
    from PIL import Image, ImageFile

    paths = [str(p) for p in image_files(tmp_path / "images", 7)]
    if setting == "LOAD_TRUNCATED_IMAGES":
        paths.append(_truncated_jpeg(tmp_path / "cut.jpg"))
        monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    else:
        paths.append(paths[0])
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 400)  # the 32x32 images exceed twice that
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = _outcome(ImageEmbedder(**TINY_EMBEDDER, batch_size=4), paths)
        sharded = _outcome(ImageEmbedder(**TINY_EMBEDDER, batch_size=4, n_jobs=2), paths)
    if setting == "LOAD_TRUNCATED_IMAGES":
        assert isinstance(single, np.ndarray), single
    else:
        assert isinstance(single, str) and single.startswith("ImageReadError"), single  # refused as too large
    if isinstance(single, np.ndarray):
        assert isinstance(sharded, np.ndarray), f"n_jobs=2 gave {sharded!r} where n_jobs=1 embedded every image"
        np.testing.assert_allclose(sharded, single, atol=1e-5)
    else:
        assert not isinstance(sharded, np.ndarray), (
            f"n_jobs=1 refused the images ({single}) but n_jobs=2 embedded them: the limit was ignored")


def test_relative_paths_after_chdir_are_read_from_the_current_folder_with_n_jobs(tmp_path, monkeypatch):
    """Image paths relative to the working directory (``["img/0.png", ...]``) mean the
    files in the folder the call is made from. A notebook embeds project A's images with
    ``n_jobs=2``, then ``os.chdir`` to project B and embeds B's ``img/*.png`` the same way.

    Now: B's embeddings with ``n_jobs=2`` are silently A's: joblib's loky workers are reused
    across calls and keep the working directory they started in, and the shards carry the
    relative paths as given (``ImageEmbedder._transform_in_shards`` / ``_input_subset``,
    ``embedder.py``). A relative ``cache_dir`` is resolved in the worker's stale folder the
    same way. Should: resolve relative paths (and ``cache_dir``) against the caller's
    working directory before dispatching the shards, so ``n_jobs`` never changes the result.
    """
    results = {}
    for name, seed in (("project_a", 0), ("project_b", 1)):
        folder = tmp_path / name
        image_files(folder / "img", 8, seed=seed)
        monkeypatch.chdir(folder)
        paths = [f"img/{i}.png" for i in range(8)]
        sharded = _outcome(ImageEmbedder(**TINY_EMBEDDER, batch_size=4, n_jobs=2), paths)
        single = ImageEmbedder(**TINY_EMBEDDER, batch_size=4).fit_transform(paths)
        results[name] = single
        assert isinstance(sharded, np.ndarray), f"in {name}, n_jobs=2 failed: {sharded}"
        if name == "project_b":
            assert not np.allclose(sharded, results["project_a"], atol=1e-5), (
                "n_jobs=2 in project_b returned project_a's embeddings (the workers' stale working directory)")
        np.testing.assert_allclose(sharded, single, atol=1e-5)


def test_dataloader_workers_out_of_shared_memory_say_which_setting_to_change(tmp_path):
    """Docker gives containers a 64 MB ``/dev/shm`` by default; DataLoader workers hand
    batches over through it. Emulated here with a 16 MB ``/dev/shm`` in a private mount
    namespace and a 224 px MobileNetV2 (random weights) at batch 64 with ``num_workers=2``.

    Now: ``RuntimeError: Caught RuntimeError in DataLoader worker process 0. Original
    Traceback (most recent call last): ... unable to allocate shared memory(shm) for file
    </torch_...>: No space left on device``: a worker's traceback, and no word of what to
    change. The library already turns worker tracebacks of image errors into one message
    (``_KeepsMessageAcrossWorkers``, ``data/decoding.py``), but not this one (``evaluate`` /
    ``make_loader``, ``training/loop.py``). Should: one message saying the workers ran out
    of shared memory (``/dev/shm``) and naming the fixes: ``num_workers=0``, a smaller
    ``batch_size``, or a larger ``/dev/shm`` (``docker run --shm-size``).
    """
    unshare, mount = shutil.which("unshare"), shutil.which("mount")
    if unshare is None or mount is None or os.geteuid() != 0:
        pytest.skip("needs root, unshare and mount to give the test its own small /dev/shm")
    probe = subprocess.run([unshare, "-m", "sh", "-c", "mount -t tmpfs -o size=16m tmpfs /dev/shm"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a private /dev/shm here: {probe.stderr.strip()}")
    script = tmp_path / "embed.py"
    script.write_text(textwrap.dedent("""
        import json
        import numpy as np
        from skclip_noise import ImageEmbedder
        X = np.random.default_rng(0).integers(0, 256, (192, 32, 32, 3), dtype=np.uint8)
        embedder = ImageEmbedder("torchvision:mobilenet_v2", pretrained=None, device="cpu", image_size=224,
                                 batch_size=64, num_workers=2).fit()
        try:
            embedder.transform(X)
            print(json.dumps({"error": None}))
        except Exception as exc:
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
    """))
    command = f"mount -t tmpfs -o size=16m tmpfs /dev/shm && exec {sys.executable} {script}"
    proc = subprocess.run([unshare, "-m", "sh", "-c", command], env=_base_env(), capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    error = json.loads(proc.stdout.strip().splitlines()[-1])["error"]
    if error is None:
        pytest.skip("the batches fitted in 16 MB of shared memory here")
    assert "shared memory" in error  # torch says so, in a worker's traceback...
    assert "num_workers" in error and "Traceback" not in error, (
        f"no advice, and a worker's traceback for the user: {error[:300]} ... {error[-200:]}")


# ------------------------------------------------------------------- threads, devices


def test_a_fit_in_a_worker_thread_leaves_that_thread_with_the_process_torch_thread_count(monkeypatch):
    """A Dask worker (or joblib's threading backend) runs fits in a pool of threads of one
    process, and reuses each thread for the tasks after. ``small_model_threads``
    (``training/device.py``) lowers torch's thread count to 1 around a frozen head's
    training and then restores "the previous" count. After a fit, the thread that ran it
    must run torch on as many threads as the process is set to (here
    ``torch.set_num_threads(2)``), whatever the other threads were doing meanwhile.

    The interleaving a busy pool produces by chance is made certain here: thread B starts
    its fit while thread A's fit is inside its frozen-head block (A waits at the start of
    its training loop until B is done).

    Now: B's thread ends with ``torch.get_num_threads() == 1`` and keeps it for every later
    task: ``torch.set_num_threads`` is process-wide for threads that have not yet used torch
    (a new thread takes the last value set anywhere), so B's first torch call picks up A's
    temporary 1, B's block records 1 as "previous" and restores 1 (with two overlapping
    fits a new thread also gets 1 when B restores last). Should: the block records the
    process's thread count once, under a lock shared by overlapping blocks, and every block
    restores that value.
    """
    from skclip_noise.training import loop

    torch.set_num_threads(2)  # the process's setting; one_torch_thread restores the test's after
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(120, 12)).astype(np.float32), np.repeat(np.arange(3), 40)
    a_inside, b_done = threading.Event(), threading.Event()
    fit = loop.Trainer.fit

    def pausing_fit(self, *args, **kwargs):
        if threading.current_thread().name == "A" and not a_inside.is_set():
            a_inside.set()
            b_done.wait(120)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(loop.Trainer, "fit", pausing_fit)
    errors, after = [], {}

    def run(name):
        try:
            if name == "B":
                assert a_inside.wait(120), "thread A never reached its training loop"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                GMMLossDetector(**TINY_CLIP, epochs=2, cv=2).fit(X, y)
            after[name] = torch.get_num_threads()  # what the thread's next task gets
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            if name == "B":
                b_done.set()

    threads = [threading.Thread(target=run, args=(name,), name=name) for name in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert errors == [] and set(after) == {"A", "B"}, errors
    assert torch.get_num_threads() == 2  # the main thread is untouched
    assert after == {"A": 2, "B": 2}, f"torch threads left in each worker thread after its fit: {after}"


def test_cuda_hidden_by_an_empty_cuda_visible_devices_gives_a_clear_choice(tmp_path):
    """``CUDA_VISIBLE_DEVICES=""`` (a CPU job on a GPU node): ``device="auto"`` runs on the
    CPU, and ``device="cuda"`` is refused at ``fit`` with a message naming the values that
    work. Passing."""
    code = textwrap.dedent("""
        import json
        from skclip_noise import ImageEmbedder
        tiny = dict(backbone="open_clip:skclip-tiny", pretrained=None)
        auto = ImageEmbedder(**tiny, device="auto").fit().device_
        try:
            ImageEmbedder(**tiny, device="cuda").fit()
            error = None
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        print(json.dumps({"auto": auto, "error": error}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=_base_env(CUDA_VISIBLE_DEVICES=""),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["auto"] == "cpu"
    assert result["error"].startswith("ValueError: device='cuda'") and "'cpu'" in result["error"], result


# ------------------------------------------------- the library's environment variable


@pytest.mark.parametrize("value", ["/no/such/fashion-mnist", "relative/fashion-mnist"])
def test_fashion_mnist_variable_naming_a_missing_folder_is_named_in_the_error(value, tmp_path, monkeypatch):
    """``SKCLIP_NOISE_FASHION_MNIST`` (documented in ``datasets/fashion_mnist.py`` and the
    data guide) naming a folder that does not exist, absolute or relative: the error shows
    the folder looked in and names the variable. Passing."""
    from skclip_noise.datasets import load_fashion_mnist

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKCLIP_NOISE_FASHION_MNIST", value)
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist()
    assert repr(value) in str(info.value) and "SKCLIP_NOISE_FASHION_MNIST" in str(info.value)


def test_fashion_mnist_variable_naming_a_file_names_the_variable_not_a_path_argument(tmp_path, monkeypatch,
                                                                                      capsys):
    """``SKCLIP_NOISE_FASHION_MNIST`` set to a file (the ``.gz`` of one split instead of its
    folder, a common slip). The user passed no ``path=`` and, on the command line, has no
    such option: the message must name the variable they set.

    Now: ``load_fashion_mnist()`` raises ``NotADirectoryError: path must be a folder holding
    the Fashion-MNIST IDX files; '.../train-images-idx3-ubyte.gz' is not a folder.`` and
    ``skclip-noise demo --dataset fashion-mnist`` prints the same (``path`` means nothing
    there). Root cause: ``load_fashion_mnist`` (``datasets/fashion_mnist.py``) words the
    check after replacing ``path`` by the variable's value. Should: "...named by the
    SKCLIP_NOISE_FASHION_MNIST environment variable, is not a folder; set it to the folder
    holding the four IDX files".
    """
    from skclip_noise.datasets import load_fashion_mnist

    a_file = tmp_path / "train-images-idx3-ubyte.gz"
    a_file.write_bytes(b"")
    monkeypatch.setenv("SKCLIP_NOISE_FASHION_MNIST", str(a_file))
    with pytest.raises(OSError) as info:
        load_fashion_mnist()
    status, err = cli_exit(["demo", "--dataset", "fashion-mnist", "--n-samples", "20",
                            "--output-dir", str(tmp_path / "out"), "--quiet"], capsys)
    assert status == 2
    assert "SKCLIP_NOISE_FASHION_MNIST" in str(info.value), str(info.value)
    assert "SKCLIP_NOISE_FASHION_MNIST" in err, err
