"""``cnncli train``: it learns, says so, saves weights that `forward -w` and torch can load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli.conftest import run_cli


def test_one_epoch_of_lenet5_on_mnist_learns_and_saves_loadable_weights(tmp_path: Path) -> None:
    out = tmp_path / "w.npz"
    r = run_cli("train", "lenet5", "--epochs", "1", "--json", "-o", str(out))
    assert r.code == 0, r.stderr
    data = json.loads(r.stdout)
    (epoch,) = data["history"]
    assert data["data"] == "mnist-5k" and epoch["val_acc"] > 0.6  # chance is 0.1
    confusion = np.array(data["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 500  # 10% of 5,000 held out
    assert np.trace(confusion) == round(epoch["val_acc"] * 500)
    assert r.stderr.startswith(f"wrote {out} (weights of lenet5")
    with np.load(out) as z:
        assert "features.0.weight" in z.files and z["features.0.weight"].shape == (6, 1, 5, 5)
    # The weights drive `forward -w`: the predicted class of held-in digits is mostly right.
    digits = np.load(Path(__file__).parents[2] / "cnncli" / "data" / "mnist5k.npz")
    pick = np.random.default_rng(0).choice(5000, 20, replace=False)
    x = (digits["x"][pick][:, None] / 255).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    f = run_cli("forward", str(tmp_path / "x.npy"), "-m", "lenet5", "-w", str(out), "--json")
    assert f.code == 0, f.stderr
    predicted = [row[0]["index"] for row in json.loads(f.stdout)["top"]]
    assert np.mean(np.array(predicted) == digits["y"][pick]) >= 0.6


def test_the_table_shows_every_epoch_and_the_confusion_matrix() -> None:
    r = run_cli("train", "lenet5", "--epochs", "1", "--optimizer", "adam", "--lr", "0.002")
    assert r.code == 0, r.stderr
    assert "train lenet5 on mnist-5k: 4,500 images, 500 held out" in r.stdout
    assert "Adam (lr 0.002" in r.stdout
    lines = r.stdout.splitlines()
    header = next(
        i for i, line in enumerate(lines) if line.split()[:3] == ["epoch", "train", "loss"]
    )
    assert lines[header + 1].split()[0] == "1"
    assert "held-out images: true class (rows) by predicted class" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alexnet"], "alexnet takes 3x224x224 images; give --data"),
        (["lenet5", "--data", "digits"], "digits: images are 1x8x8, but lenet5 takes 1x28x28"),
        (["lenet5", "-o", "w.pt"], "-o must end in .npz"),
        (["lenet5", "--data", "nothing.npz"], "nothing.npz: no such file"),
    ],
)
def test_mistakes_are_one_error_line(tmp_path: Path, args: list[str], message: str) -> None:
    r = run_cli("train", *[str(tmp_path / a) if a in ("w.pt",) else a for a in args])
    assert r.code == 2 and r.stdout == ""
    assert r.stderr.startswith("error: ") and message in r.stderr and "Traceback" not in r.stderr


def test_own_data_with_named_keys_and_a_separate_validation_folder(tmp_path: Path) -> None:
    """A .npz with other key names trains; an ImageFolder of PNGs is the held-out set."""
    from PIL import Image

    digits = np.load(Path(__file__).parents[2] / "cnncli" / "data" / "mnist5k.npz")
    rng = np.random.default_rng(0)
    pick = rng.choice(5000, 600, replace=False)
    np.savez(tmp_path / "own.npz", images=digits["x"][pick], labels=digits["y"][pick])
    folder = tmp_path / "val"
    val = [i for i in rng.choice(5000, 60, replace=False) if digits["y"][i] != 3][:40]
    for i in val:  # no 3s: the folders' names, not their order, give the classes
        label = int(digits["y"][i])
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(digits["x"][i]).save(folder / str(label) / f"{i}.png")
    r = run_cli("train", "lenet5", "--data", str(tmp_path / "own.npz"), "--key-x", "images",
                "--key-y", "labels", "--val", str(folder), "--epochs", "2", "--json")  # fmt: skip
    assert r.code == 0, r.stderr
    data = json.loads(r.stdout)
    confusion = np.array(data["confusion"])
    assert confusion.sum() == 40 and confusion[3].sum() == 0
    truth = np.bincount([int(digits["y"][i]) for i in val], minlength=10)
    np.testing.assert_array_equal(confusion.sum(axis=1), truth)
    assert data["history"][-1]["train_loss"] < data["history"][0]["train_loss"]


def test_evaluate_reports_what_the_weights_do_and_saves_the_worst(tmp_path: Path) -> None:
    from PIL import Image

    from cnncli.io.datasets import load_builtin
    from cnncli.nn import zoo
    from cnncli.nn.train import evaluate

    w = tmp_path / "w.npz"
    assert run_cli("train", "lenet5", "--epochs", "1", "-o", str(w), "--json").code == 0
    r = run_cli("evaluate", "lenet5", "-w", str(w), "--json", "--worst", str(tmp_path / "bad.png"))
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    # The same numbers as evaluating the loaded weights directly, on all 5,000 images.
    model = zoo.lenet5()
    with np.load(w) as z:
        model.load_state_dict(dict(z))
    data = load_builtin("mnist-5k")
    loss, accuracy, _ = evaluate(model, data.x, data.y)
    assert report["images"] == 5000 and report["accuracy"] == pytest.approx(accuracy)
    assert report["loss"] == pytest.approx(loss) and sum(map(sum, report["confusion"])) == 5000
    assert r.stderr.startswith(f"wrote {tmp_path / 'bad.png'} (PNG grid of the 36 most")
    assert r.stderr.count("wrote ") == 1  # the grid is drawn and written once
    grid = Image.open(tmp_path / "bad.png")
    assert grid.size[0] > 6 * 64 and grid.size[1] > 6 * 64
    text = run_cli("evaluate", "lenet5", "-w", str(w)).stdout
    assert f"accuracy {accuracy:.2%}" in text and "images: true class (rows)" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-w", "missing.npz"], "missing.npz: no such file"),
        (["-w", "w.npz", "--worst", "worst.jpg"], "--worst must end in .png"),
        (["-w", "w.npz", "--data", "digits"], "digits: images are 1x8x8, but lenet5 takes 1x28x28"),
        (["-w", "w.npz"], "the weights do not fit the model"),
    ],
)
def test_evaluate_mistakes_are_one_error_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    np.savez(tmp_path / "w.npz", nothing=np.zeros(1))
    paths = [str(tmp_path / a) if a.endswith((".npz", ".jpg")) else a for a in args]
    r = run_cli("evaluate", "lenet5", *paths)
    assert r.code == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: ") and message in r.stderr


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_run_stopped_after_epoch_2_and_resumed_ends_bit_for_bit_as_one_run(
    tmp_path: Path, optimizer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 3-epoch run stopped by Ctrl-C in epoch 3 (its checkpoint is of epoch 2), then resumed,
    ends with the weights of a 3-epoch run that never stopped: weights, optimizer state,
    cosine schedule, shuffling and Dropout generators all carried over."""
    import cnncli.nn.train as train_module

    spec = tmp_path / "net.toml"
    spec.write_text(
        'input = [1, 8, 8]\n[[layers]]\ntype = "Conv2d"\nout_channels = 4\nkernel_size = 3\n'
        '[[layers]]\ntype = "ReLU"\n[[layers]]\ntype = "Dropout"\np = 0.2\n'
        '[[layers]]\ntype = "Flatten"\n[[layers]]\ntype = "Linear"\nout_features = 10\n'
    )
    common = ["train", str(spec), "--data", "digits", "--optimizer", optimizer, "--lr", "0.01",
              "--schedule", "cosine", "--epochs", "3", "--json"]  # fmt: skip
    straight, resumed, ck = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "ck"
    assert run_cli(*common, "-o", str(straight)).code == 0
    real_epoch = train_module.train_epoch

    def stop_in_epoch_3(*args: object, **kwargs: object) -> object:
        if kwargs.get("epoch") == 3:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(train_module, "train_epoch", stop_in_epoch_3)
    stopped = run_cli(*common, "--checkpoint", str(ck), "-o", str(resumed))
    assert stopped.code == 130 and not resumed.exists()
    assert f"stopped in epoch 3: {ck / 'checkpoint.npz'} holds epoch 2" in stopped.stderr
    monkeypatch.setattr(train_module, "train_epoch", real_epoch)
    r = run_cli(*common, "--resume", str(ck), "-o", str(resumed))
    assert r.code == 0, r.stderr
    assert [h["epoch"] for h in json.loads(r.stdout)["history"]] == [1, 2, 3]
    with np.load(straight) as a, np.load(resumed) as b:
        assert a.files == b.files
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
    done = [a if a != "3" else "2" for a in common]  # --epochs 2: nothing left to train
    again = run_cli(*done, "--resume", str(ck))
    assert again.code == 2 and "already trained 2 epochs" in again.stderr
    missing = run_cli(*common, "--resume", str(tmp_path / "none"))
    assert missing.code == 2 and "no checkpoint.npz here to resume from" in missing.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a zip", "not a readable cnncli checkpoint"),
        ("meta-only", "not a cnncli checkpoint (its metadata lacks"),
        ("no-meta", "not a readable cnncli checkpoint"),
    ],
)
def test_a_damaged_checkpoint_is_one_error(tmp_path: Path, content: object, message: str) -> None:
    ck = tmp_path / "ck"
    ck.mkdir()
    path = ck / "checkpoint.npz"
    if content == "meta-only":
        np.savez(path, **{"meta.json": np.frombuffer(b'{"epoch": 1}', dtype=np.uint8)})
    elif content == "no-meta":
        np.savez(path, w=np.zeros(2))
    else:
        path.write_bytes(content)  # type: ignore[arg-type]
    r = run_cli("train", "lenet5", "--epochs", "2", "--resume", str(ck))
    assert r.code == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: ") and message in r.stderr


def test_lenet5_trains_with_the_helper_process_and_its_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On two threads ``cnncli train lenet5`` splits every step of mnist-5k with its helper
    process (nn/data_parallel.py), which answers every one; with one thread asked for it
    does not, and the two runs end within rounding of each other."""
    from cnncli.nn import data_parallel

    answered: list[bool] = []
    real = data_parallel.Helper._receive

    def receive(self: data_parallel.Helper) -> tuple[float, int] | None:
        reply = real(self)
        answered.append(reply is not None)
        return reply

    monkeypatch.setattr(data_parallel.Helper, "_receive", receive)
    two = run_cli("train", "lenet5", "--epochs", "1", "--json", env={"CNNCLI_NUM_THREADS": "2"})
    assert two.code == 0, two.stderr
    assert len(answered) == 71 and all(answered)  # 4,500 images in batches of 64
    one = run_cli("train", "lenet5", "--epochs", "1", "--json", env={"CNNCLI_NUM_THREADS": "1"})
    assert one.code == 0, one.stderr
    assert len(answered) == 71
    (split,), (alone,) = json.loads(two.stdout)["history"], json.loads(one.stdout)["history"]
    assert split["train_loss"] == pytest.approx(alone["train_loss"], rel=1e-4)
    assert split["val_acc"] == pytest.approx(alone["val_acc"], abs=0.01)
