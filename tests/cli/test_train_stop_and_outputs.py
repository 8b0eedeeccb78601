"""``cnncli train``: Ctrl-C finishes the step and keeps a checkpoint; the curves, the filters,
.safetensors weights, --betas and the memory guard."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.cli.conftest import run_cli

ROOT = Path(__file__).parents[2]
SPEC = (
    'input = [1, 8, 8]\n[[layers]]\ntype = "Conv2d"\nout_channels = 4\nkernel_size = 3\n'
    '[[layers]]\ntype = "ReLU"\n[[layers]]\ntype = "Dropout"\np = 0.2\n'
    '[[layers]]\ntype = "Flatten"\n[[layers]]\ntype = "Linear"\nout_features = 10\n'
)


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "net.toml"
    path.write_text(SPEC)
    return path


def _ctrl_c_at(monkeypatch: pytest.MonkeyPatch, epoch: int, step: int, presses: int) -> None:
    """Send this process SIGINT ``presses`` times right after ``step`` of ``epoch``."""
    import cnncli.nn.train as train_module

    real = train_module.train_epoch

    def train_epoch(*args: Any, **kwargs: Any) -> Any:
        inner = kwargs.get("on_step")

        def on_step(info: Any) -> None:
            if inner is not None:
                inner(info)
            if kwargs.get("epoch") == epoch and info.step == step:
                for _ in range(presses):
                    os.kill(os.getpid(), signal.SIGINT)

        kwargs["on_step"] = on_step
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_epoch", train_epoch)


def _same_weights(a: Path, b: Path) -> None:
    with np.load(a) as x, np.load(b) as y:
        assert x.files == y.files
        for key in x.files:
            np.testing.assert_array_equal(x[key], y[key])


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_ctrl_c_finishes_the_step_keeps_it_and_the_resumed_run_is_bit_for_bit(
    tmp_path: Path, spec: Path, optimizer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    common = ["train", str(spec), "--data", "digits", "--optimizer", optimizer, "--lr", "0.01",
              "--schedule", "cosine", "--epochs", "3", "--batch-size", "32", "--json"]  # fmt: skip
    straight, resumed, ck = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "ck"
    assert run_cli(*common, "-o", str(straight)).code == 0
    _ctrl_c_at(monkeypatch, epoch=2, step=7, presses=1)
    stopped = run_cli(*common, "--checkpoint", str(ck), "-o", str(resumed))
    steps = -(-int(0.9 * 1797 + 1) // 32)  # 1,617 training images of the stratified 10% split
    assert stopped.code == 130 and not resumed.exists()
    assert stopped.stderr.splitlines()[-1] == (
        f"stopped in epoch 2 after step 7 of {steps}: wrote {ck / 'checkpoint.npz'}; "
        f"--resume {ck} continues from there"
    )
    assert "interrupted" not in stopped.stderr
    monkeypatch.undo()
    other = [a if a != "32" else "16" for a in common]
    refused = run_cli(*other, "--resume", str(ck))
    assert refused.code == 2 and "resume it with --batch-size 32" in refused.stderr
    r = run_cli(*common, "--resume", str(ck), "-o", str(resumed))
    assert r.code == 0, r.stderr
    assert [h["epoch"] for h in json.loads(r.stdout)["history"]] == [1, 2, 3]
    _same_weights(straight, resumed)


def test_ctrl_c_without_a_checkpoint_says_none_was_kept_and_twice_stops_at_once(
    tmp_path: Path, spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    common = ["train", str(spec), "--data", "digits", "--epochs", "2", "--json"]
    _ctrl_c_at(monkeypatch, epoch=1, step=2, presses=1)
    r = run_cli(*common)
    assert r.code == 130
    assert re.search(r"stopped in epoch 1 after step 2 of \d+: no checkpoint was kept "
                     r"\(give --checkpoint DIR to keep one\)$", r.stderr)  # fmt: skip
    monkeypatch.undo()
    _ctrl_c_at(monkeypatch, epoch=2, step=2, presses=2)  # the second press interrupts the step
    ck = tmp_path / "ck"
    r = run_cli(*common, "--checkpoint", str(ck))
    assert r.code == 130
    assert f"stopped in epoch 2: {ck / 'checkpoint.npz'} holds epoch 1" in r.stderr
    with np.load(ck / "checkpoint.npz") as z:
        meta = json.loads(z["meta.json"].tobytes())
    assert meta["epoch"] == 1 and meta["partial"] is None


def test_a_real_process_stops_cleanly_on_sigint(tmp_path: Path, spec: Path) -> None:
    """The whole path in a separate process: the signal, the message, the status 130."""
    ck = tmp_path / "ck"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnncli", "train", str(spec), "--data", "digits", "--epochs",
         "400", "--checkpoint", str(ck)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:  # piped: one plain line per epoch
        if line.split()[:1] == ["1"]:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"stopped (in epoch \d+ after step \d+ of \d+|after epoch \d+): wrote "
        rf"{re.escape(str(ck / 'checkpoint.npz'))}; --resume {re.escape(str(ck))} continues "
        r"from there",
        last,
    ), last
    assert (ck / "checkpoint.npz").is_file() and not list(ck.glob("*.tmp*"))


def test_curves_filters_and_safetensors_weights(tmp_path: Path, spec: Path) -> None:
    npz, st = tmp_path / "w.npz", tmp_path / "w.safetensors"
    plot, filters = tmp_path / "curves.png", tmp_path / "filters.png"
    common = ["train", str(spec), "--data", "digits", "--epochs", "3"]
    r = run_cli(*common, "-o", str(st), "--plot", str(plot), "--filters", str(filters))
    assert r.code == 0, r.stderr
    assert f"wrote {plot} (PNG of loss and accuracy over 3 epochs)" in r.stderr
    assert f"wrote {filters} (PNG of 0's 4 learned kernels)" in r.stderr
    # The terminal curves: a loss and an accuracy chart with one mark per epoch and set.
    charts = r.stdout[r.stdout.index("\nloss\n") :]
    assert "accuracy" in charts and "● train   ◆ held out" in charts
    assert sum(charts.count(m) for m in "●◆") + 2 * charts.count("◉") == 2 * 2 * 3 + 2
    with Image.open(plot) as im:
        assert im.format == "PNG" and im.size == (840, 298)
        pixels = np.asarray(im.convert("RGB"))
    assert (np.all(pixels == (31, 119, 180), axis=-1)).sum() > 100  # the training line
    with Image.open(filters) as im:
        assert im.format == "PNG" and im.width > 4 * 3 * 4
    assert run_cli(*common, "-o", str(npz)).code == 0
    safetensors = pytest.importorskip("safetensors.numpy")
    loaded = safetensors.load_file(str(st))
    with np.load(npz) as z:
        assert sorted(loaded) == sorted(z.files)
        for key in z.files:
            np.testing.assert_array_equal(loaded[key], z[key])
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 1, 8, 8), np.float32))
    outputs = []
    for weights in (st, npz):
        f = run_cli("forward", str(x), "-m", str(spec), "-w", str(weights), "--json")
        assert f.code == 0, f.stderr
        layers = json.loads(f.stdout)["layers"]
        outputs.append([{k: v for k, v in layer.items() if k != "seconds"} for layer in layers])
    assert outputs[0] == outputs[1]


def test_safetensors_weights_load_into_torch(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    from safetensors.torch import load_file

    from tests.nn.torch_models import build

    st = tmp_path / "w.safetensors"
    r = run_cli("train", "lenet5", "--epochs", "1", "-o", str(st), "--json")
    assert r.code == 0, r.stderr
    net = build("lenet5")
    net.load_state_dict(load_file(str(st)))  # strict: every name and shape must match
    assert torch.isfinite(net(torch.zeros(1, 1, 28, 28))).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plot", "c.jpg"], "--plot must end in .png, got 'c.jpg'"),
        (["--filters", "f"], "--filters must end in .png, got 'f'"),
        (["-o", "w.png", "--plot", "w.png"], "-o must end in .npz or .safetensors"),
        (["--plot", "a.png", "--filters", "a.png"], "-o, --plot and --filters must name "),
        (
            ["--optimizer", "adamw", "--betas", "0.9"],
            "--betas must be two numbers such as 0.9,0.999, got '0.9'",
        ),
        (["--betas", "0.9,0.99"], "--betas is Adam's and AdamW's; SGD has none"),
        (["--optimizer", "adam", "--betas", "0.9,1.5"], "betas must be two numbers in [0, 1)"),
        (["--max-memory", "1M"], "a training step at batch 64 would need about "),
    ],
)
def test_mistakes_are_one_error_line(tmp_path: Path, args: list[str], message: str) -> None:
    os.chdir(tmp_path)
    r = run_cli("train", "lenet5", "--epochs", "1", *args)
    assert r.code == 2, r.stderr
    assert r.stderr.startswith("error: ") and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not list(tmp_path.iterdir())


def test_filters_needs_a_convolution(tmp_path: Path) -> None:
    spec = tmp_path / "mlp.toml"
    spec.write_text('input = [1, 8, 8]\n[[layers]]\ntype = "Flatten"\n'
                    '[[layers]]\ntype = "Linear"\nout_features = 10\n')  # fmt: skip
    r = run_cli("train", str(spec), "--data", "digits", "--filters", str(tmp_path / "f.png"))
    assert r.code == 2 and "--filters: " in r.stderr and "has no Conv2d layer to draw" in r.stderr


def test_the_memory_estimate_counts_gradients_and_optimizer_state() -> None:
    from cnncli.nn import resources
    from cnncli.nn.spec import load_model
    from cnncli.nn.summary import summarize

    net, chw = load_model("lenet5")
    summary = summarize(net, tuple(chw), batch=64)
    forward = resources.estimate(net, summary)
    sgd = resources.training_estimate(net, summary, 1)
    adam = resources.training_estimate(net, summary, 2)
    params = net.num_params() * 4
    assert sgd.param_bytes - forward.param_bytes == 2 * params  # a gradient and a momentum
    assert adam.total - sgd.total == params
    assert sgd.activation_bytes > forward.activation_bytes
    assert "parameters, gradients and optimizer state" in sgd.describe()
