"""Issue 6, generated: random small files and random (often nonsensical) arguments for every
command, in-process; only exit 0, or exit 2 with one ``error:`` line, is accepted.

Never exit 1, never a traceback, never a temporary file left, and a failed run creates
no output file.  Tensor commands always get ``--max-memory`` (64M or a nonsensical
value) so that a generated padding of 99999 is refused rather than computed.
Bounded by ``max_examples`` to about a minute on 2 cores.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.hostile import helpers as h


def bounded(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )


NUMS = ["0", "1", "2", "3", "-1", "-7", "99999", "1e9", "0.5", "nan", "inf", "x", "", " "]
PAIRS = ["1,2", "2,1", "0,0", "1,2,3", "1,2,0,1", "1,,2", "1;2", "-1,1", "2,99999"]
NONSENSE = st.sampled_from(NUMS + PAIRS + ["same", "valid", "--", "-o", "../x", "\x00"])
SENSIBLE = st.sampled_from(["0", "1", "1", "2", "2", "3", "1,2", "2,1", "1,0,1,0", "same", "0.5"])
VALUE = st.one_of(SENSIBLE, SENSIBLE, NONSENSE)
SEED = st.sampled_from(["0", "7", "-1", "99999999999999999999", "x", "1.5", ""])
MEMORY = st.sampled_from(["64M"] * 8 + ["1K", "1", "0", "-5", "abc", "1e3M"])

# ------------------------------------------------------------------ generated input files


@st.composite
def npy_file(draw: st.DrawFn) -> tuple[str, bytes]:
    dtype = draw(st.sampled_from(["<f4", ">f8", "<f2", "<i4", "|u1", "|b1", "<i8", "<c8"]))
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=1, max_size=5)))
    values = draw(st.sampled_from(["normal", "ints", "zeros", "nan", "huge"]))
    rng = np.random.default_rng(draw(st.integers(0, 9)))
    arr = {
        "normal": rng.standard_normal(shape),
        "ints": rng.integers(-300, 300, shape).astype(float),
        "zeros": np.zeros(shape),
        "nan": np.full(shape, np.nan),
        "huge": np.full(shape, 1e300),
    }[values]
    with np.errstate(all="ignore"):
        a = arr.astype(dtype)
    buf = io.BytesIO()
    np.save(buf, a)
    data = buf.getvalue()
    if draw(st.booleans()):
        return ".npy", data
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        for key in draw(
            st.lists(st.sampled_from(["x", "y", "weight"]), min_size=0, max_size=2, unique=True)
        ):
            zf.writestr(f"{key}.npy", data)
    return ".npz", zbuf.getvalue()


TEXT_PARTS = st.sampled_from(
    [
        *"0123456789",
        ",",
        ",",
        " ",
        "\t",
        "\n",
        "\n",
        "\r\n",
        ".",
        "-",
        "e",
        '"',
        ";",
        "nan",
        "1e999",
        "\ufeff",
        "x",
        "#",
    ]
)


@st.composite
def text_file(draw: st.DrawFn) -> tuple[str, bytes]:
    ext = draw(st.sampled_from([".csv", ".txt", ".tsv"]))
    return ext, "".join(draw(st.lists(TEXT_PARTS, max_size=80))).encode()


JSON_VALUE = st.recursive(
    st.integers(-5, 300)
    | st.floats(allow_nan=False, width=32)
    | st.booleans()
    | st.text(max_size=3),
    lambda children: st.lists(children, max_size=5),
    max_leaves=40,
)


@st.composite
def json_file(draw: st.DrawFn) -> tuple[str, bytes]:
    return ".json", json.dumps(draw(JSON_VALUE)).encode()


@st.composite
def image_file(draw: st.DrawFn) -> tuple[str, bytes]:
    mode = draw(st.sampled_from(["L", "RGB", "RGBA", "1", "LA", "P"]))
    H, W = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 9)))
    from PIL import Image

    img = Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), "RGB").convert(mode)
    fmt, ext = draw(st.sampled_from([("PNG", ".png"), ("GIF", ".gif"), ("BMP", ".bmp")]))
    if mode in ("RGBA", "LA") and fmt != "PNG":
        fmt, ext = "PNG", ".png"
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    data = buf.getvalue()
    cut = draw(st.none() | st.integers(0, len(data)))
    return ext, data if cut is None else data[:cut]


@st.composite
def random_file(draw: st.DrawFn) -> tuple[str, bytes]:
    ext = draw(st.sampled_from([".png", ".jpg", ".npy", ".npz", ".csv", ".json", ".xyz", ""]))
    return ext, draw(st.binary(max_size=200))


@st.composite
def plausible_file(draw: st.DrawFn) -> tuple[str, bytes]:
    """A float array file that loads: (H, W), (C, H, W) or (N, C, H, W), small sizes."""
    shape = draw(
        st.sampled_from([(5, 6), (2, 7, 7), (1, 3, 6, 5), (2, 2, 4, 4), (3, 9, 9), (1, 1)])
    )
    arr = np.random.default_rng(draw(st.integers(0, 9))).standard_normal(shape).astype(np.float32)
    if draw(st.booleans()):
        buf = io.BytesIO()
        np.save(buf, arr)
        return ".npy", buf.getvalue()
    if len(shape) == 2:
        return ".csv", "\n".join(",".join(f"{v:.3g}" for v in row) for row in arr).encode()
    return ".json", json.dumps(arr.tolist()).encode()


ANY_FILE = st.one_of(
    plausible_file(),
    plausible_file(),
    plausible_file(),
    image_file(),
    npy_file(),
    text_file(),
    json_file(),
    random_file(),
)

# ------------------------------------------------------------------ arguments per command

OPTIONS: dict[str, list[tuple[str, st.SearchStrategy[str] | None]]] = {
    "conv": [
        (
            "-k",
            st.sampled_from(
                [
                    "sobel",
                    "box",
                    "sobel-x",
                    "gaussian5",
                    "sobl",
                    "1,2;3,4",
                    "[[1]]",
                    "1,2;3",
                    "[[[1]]]",
                    "",
                    ";",
                    "{file}",
                    "{file}:x",
                    "emboss",
                ]
            ),
        ),
        ("-s", VALUE),
        ("-p", VALUE),
        ("-d", VALUE),
        ("-g", VALUE),
        ("-b", VALUE),
        ("--pad-mode", st.sampled_from(["zeros", "reflect", "replicate", "circular", "wrap"])),
        ("-a", st.sampled_from(["relu", "softmax", "log-softmax", "gelu"])),
        ("--slope", VALUE),
        ("--explain", VALUE),
        ("--depthwise", None),
        ("--magnitude", None),
        ("--grad", st.sampled_from(["ones", "{file}", "zeros", "-"])),
        ("--transpose", None),
        ("--output-padding", VALUE),
    ],
    "pool": [
        ("--mode", st.sampled_from(["max", "avg", "min"])),
        ("-k", VALUE),
        ("-s", VALUE),
        ("-p", VALUE),
        ("--dilation", VALUE),
        ("--ceil-mode", None),
        ("--no-count-include-pad", None),
        ("--divisor-override", VALUE),
        ("--global", None),
        ("--adaptive", VALUE),
        ("--explain", VALUE),
        ("--grad", st.sampled_from(["ones", "{file}"])),
    ],
    "pad": [
        ("-p", VALUE),
        ("--value", VALUE),
        (
            "--mode",
            st.sampled_from(
                ["zeros", "constant", "reflect", "symmetric", "replicate", "circular", "edge"]
            ),
        ),
    ],
    "act": [
        (
            "-f",
            st.sampled_from(
                [
                    "relu",
                    "leaky-relu",
                    "sigmoid",
                    "tanh",
                    "softmax",
                    "log-softmax",
                    "elu",
                    "gelu",
                    "hardtanh",
                    "swish",
                ]
            ),
        ),
        ("--slope", VALUE),
        ("--dim", VALUE),
        ("--min-val", VALUE),
        ("--alpha", VALUE),
        ("--grad", st.sampled_from(["ones", "{file}"])),
    ],
    "flatten": [("--order", st.sampled_from(["chw", "hwc", "cwh"]))],
    "linear": [
        ("-w", st.just("{file}")),
        ("-b", st.sampled_from(["0.5", "1,2,3", "{file}", "x", ""])),
        ("--out", VALUE),
        ("--seed", SEED),
        ("--grad", st.sampled_from(["ones", "{file}"])),
    ],
    "dropout": [("--p", VALUE), ("--seed", SEED), ("--eval", None), ("--train", None)],
}
COMMON = [
    ("--show", st.sampled_from(["auto", "table", "heatmap", "stats", "none", "all"])),
    ("--channels", st.sampled_from(["0", "0,1", "0-3", "1:0", "9", "x", "-1", ""])),
    ("--json", None),
    (
        "-o",
        st.sampled_from(
            [
                "out.npy",
                "out.npz",
                "out.csv",
                "out.json",
                "out.png",
                "out.txt",
                "-",
                "{file}",
                "nodir/out.npy",
            ]
        ),
    ),
    ("--png-scale", st.sampled_from(["minmax", "clip", "abs", "log"])),
    ("--layout", st.sampled_from(["chw", "hwc", "whc"])),
    ("--key", st.sampled_from(["x", "y", "nope"])),
    ("--gray", None),
    ("--scale", st.sampled_from(["raw", "unit", "percent"])),
    ("--dtype", st.sampled_from(["float32", "float64", "float16"])),
    ("--allow-nonfinite", None),
]


@st.composite
def options(draw: st.DrawFn, table: list[tuple[str, st.SearchStrategy[str] | None]]) -> list[str]:
    picked = draw(st.lists(st.sampled_from(table), max_size=3, unique_by=lambda o: o[0]))
    argv: list[str] = []
    for flag, values in picked:
        argv.append(flag)
        if values is not None:
            argv.append(draw(values))
    return argv


def _check(r: h.Run, folder: Path, before: set[str]) -> None:
    if r.code == 2 and not r.stderr.strip() and "Usage:" in r.stdout:
        return  # no arguments at all: the help is shown (exit 2, as Click does), by design
    h.assert_clean(r)
    leftovers = [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == [], leftovers
    if r.code != 0:
        assert {str(p) for p in folder.rglob("*")} <= before, "a failed run created a file"


def _run(folder: Path, argv: list[str], file: Path) -> None:
    args = [a.replace("{file}", str(file)) for a in argv]
    args = [str(folder / a) if a.startswith(("out.", "nodir/")) else a for a in args]
    before = {str(p) for p in folder.rglob("*")}
    r = h.run_cli(*args)
    event(f"{args[0] if args else '(none)'} exit {r.code}")
    _check(r, folder, before)


@bounded(600)
@given(
    command=st.sampled_from(sorted(OPTIONS)),
    file=ANY_FILE,
    use_file=st.sampled_from([True, True, True, False]),
    data=st.data(),
)
def test_tensor_commands(
    command: str, file: tuple[str, bytes], use_file: bool, data: st.DataObject
) -> None:
    argv = [command]
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        path = folder / f"in{file[0]}"
        path.write_bytes(file[1])
        if use_file:
            argv.append(str(path))
        argv += data.draw(options(OPTIONS[command]), label="options")
        argv += data.draw(options(COMMON), label="common")
        if command in ("conv", "pool", "pad"):  # the others' outputs are the input's size
            argv += ["--max-memory", data.draw(MEMORY, label="memory")]
        _run(folder, argv, path)


# ------------------------------------------------------------------ generated specs

LAYER_TYPES = [
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "Flatten",
    "Dropout",
    "Linear",
    "BatchNorm2d",
    "Sequential",
    "BasicBlock",
    "Residual",
    "Conv3d",
    "relu",
    "",
]
KEYS = [
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "groups",
    "bias",
    "padding_mode",
    "out_features",
    "in_features",
    "in_channels",
    "p",
    "dim",
    "start_dim",
    "end_dim",
    "output_size",
    "negative_slope",
    "planes",
    "ceil_mode",
    "eps",
    "name",
    "count_include_pad",
    "divisor_override",
    "downsample",
    "relu",
    "unknown",
]
SPEC_VALUE = st.one_of(
    st.integers(-2, 6),
    st.integers(-2, 6),
    st.sampled_from(
        [True, False, None, "same", "valid", "zeros", "reflect", "a", "../x", 2.5, 10**6, 2**65]
    ),
    st.lists(st.integers(-1, 4), max_size=4),
)


def _layer(
    children: st.SearchStrategy[list[dict[str, object]]],
) -> st.SearchStrategy[dict[str, object]]:
    return st.builds(
        lambda t, kv, nested, short: {
            "type": t,
            **kv,
            **({"layers": nested} if nested is not None else {}),
            **({"shortcut": short} if short is not None else {}),
        },
        st.sampled_from(LAYER_TYPES),
        st.dictionaries(st.sampled_from(KEYS), SPEC_VALUE, max_size=4),
        st.none() | children,
        st.none() | children,
    )


LAYERS = st.recursive(
    st.lists(_layer(st.just([{"type": "ReLU"}])), min_size=0, max_size=4),
    lambda children: st.lists(_layer(children), min_size=1, max_size=3),
    max_leaves=8,
)
SPEC = st.fixed_dictionaries(
    {"layers": LAYERS},
    optional={
        "input": st.sampled_from(
            [[1, 8, 8], [3, 12, 12], [2, 5, 5], [1, 1, 1], [0, 4, 4], "3x8x8", [3, 8]]
        ),
        "name": st.sampled_from(["net", 3, ""]),
        "junk": st.integers(),
    },
)


VALID_LAYERS = [
    {"type": "Conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1},
    {"type": "Conv2d", "out_channels": 2, "kernel_size": [1, 2], "stride": 2, "bias": False},
    {
        "type": "Conv2d",
        "out_channels": 4,
        "kernel_size": 3,
        "padding": "same",
        "padding_mode": "reflect",
    },
    {"type": "ReLU"},
    {"type": "LeakyReLU", "negative_slope": 0.2},
    {"type": "Tanh"},
    {"type": "Sigmoid"},
    {"type": "Dropout", "p": 0.3},
    {"type": "BatchNorm2d"},
    {"type": "MaxPool2d", "kernel_size": 2, "ceil_mode": True},
    {"type": "AvgPool2d", "kernel_size": 2, "padding": 1, "count_include_pad": False},
    {"type": "AdaptiveAvgPool2d", "output_size": [2, 3]},
    {"type": "BasicBlock", "planes": 4, "stride": 2},
    {
        "type": "Residual",
        "layers": [{"type": "Conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1}],
    },
    {"type": "Sequential", "layers": [{"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 1}]},
]
HEAD = [{"type": "Flatten"}, {"type": "Linear", "out_features": 4}, {"type": "Softmax", "dim": 1}]


@st.composite
def plausible_spec(draw: st.DrawFn) -> dict[str, object]:
    """A spec that mostly builds: valid layers, a classifier head, sometimes one value broken."""
    body = draw(st.lists(st.sampled_from(VALID_LAYERS), min_size=1, max_size=5))
    layers = [dict(layer) for layer in body] + (HEAD if draw(st.booleans()) else [])
    if draw(st.booleans()):
        i = draw(st.integers(0, len(layers) - 1))
        layers[i] = {**layers[i], draw(st.sampled_from(KEYS)): draw(SPEC_VALUE)}
    C, H = draw(st.integers(1, 3)), draw(st.integers(1, 12))
    return {"input": [C, H, draw(st.integers(1, 12))], "layers": layers}


def _spec_file(folder: Path, spec: dict[str, object], fmt: str) -> Path:
    if fmt == "json":
        path = folder / "spec.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        return path
    path = folder / "spec.toml"
    path.write_text(_toml(spec), encoding="utf-8")
    return path


def _toml(spec: dict[str, object]) -> str:
    """The spec as TOML: top-level keys, then layers as inline tables (nesting included)."""

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if v is None:
            return '"none"'
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, int) and abs(v) >= 2**63:
            return json.dumps(str(v))  # TOML integers are 64-bit
        return json.dumps(v)

    return "".join(f"{json.dumps(k)} = {value(v)}\n" for k, v in spec.items())


@bounded(300)
@given(
    spec=plausible_spec() | plausible_spec() | SPEC,
    fmt=st.sampled_from(["json", "toml"]),
    command=st.sampled_from(["shapes", "forward"]),
    extra=st.lists(
        st.sampled_from(
            [
                ["--input", "1x8x8"],
                ["--input", "3x16x16"],
                ["--input", "0x4x4"],
                ["--input", "x"],
                ["--input", "1x2"],
                ["--batch", "2"],
                ["--batch", "0"],
                ["--batch", "x"],
                ["--seed", "-1"],
                ["--top", "3"],
                ["--top", "-1"],
                ["--json"],
                ["--depth", "1"],
                ["--depth", "-1"],
                ["--formulas"],
                ["-o", "out.npy"],
                ["-o", "out.json"],
                ["-o", "out.csv"],
                ["-o", "out.npz"],
                ["--save-maps", "maps"],
                ["--normalize", "imagenet"],
                ["--normalize", "x"],
                ["-w", "{file}"],
                ["{file}"],
                ["--labels", "{file}"],
            ]
        ),
        max_size=3,
    ),
    file=ANY_FILE,
)
def test_network_commands(
    spec: dict[str, object],
    fmt: str,
    command: str,
    extra: list[list[str]],
    file: tuple[str, bytes],
) -> None:
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        path = folder / f"in{file[0]}"
        path.write_bytes(file[1])
        spec_path = _spec_file(folder, spec, fmt)
        argv = [command, str(spec_path)] if command == "shapes" else [command, "-m", str(spec_path)]
        for item in extra:
            argv += [str(folder / a) if a in ("maps",) else a for a in item]
        _run(folder, [*argv, "--max-memory", "64M"], path)


@bounded(100)
@given(
    model=st.sampled_from(
        [
            "lenet5",
            "tinyvgg",
            "alexnet",
            "vgg16",
            "resnet18",
            "alexnet-torchvision",
            "nope",
            "",
            "../x.toml",
            "LENET5",
            "missing.json",
        ]
    ),
    command=st.sampled_from(["shapes", "forward"]),
    extra=st.lists(
        st.sampled_from(
            [
                ["--input", "1x28x28"],
                ["--input", "3x32x32"],
                ["--input", "1x8x8"],
                ["--input", "3x1x1"],
                ["--input", "1x100000x100000"],
                ["--batch", "3"],
                ["--batch", "99999999"],
                ["--top", "2"],
                ["--json"],
                ["--depth", "0"],
                ["-w", "{file}"],
                ["{file}"],
                ["--max-memory", "1K"],
            ]
        ),
        max_size=3,
    ),
    file=ANY_FILE,
)
def test_zoo_commands(
    model: str, command: str, extra: list[list[str]], file: tuple[str, bytes]
) -> None:
    heavy = model in ("alexnet", "vgg16", "resnet18", "alexnet-torchvision")
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        path = folder / f"in{file[0]}"
        path.write_bytes(file[1])
        argv = [command, model] if command == "shapes" else [command, "-m", model]
        for item in extra:
            argv += item
        if command == "forward" and heavy:
            argv += ["--max-memory", "1K"]  # the big models' forward passes are refused, not run
        else:
            argv += ["--max-memory", "256M"]
        _run(folder, argv, path)


@bounded(50)
@given(
    argv=st.lists(
        st.sampled_from(
            [
                "kernels",
                "models",
                "sobel",
                "sobl",
                "--json",
                "box",
                "-h",
                "../x",
                "--version",
                "--debug",
                "nope",
                "",
                "-x",
                "--",
                "conv",
                "\x00",
            ]
        ),
        max_size=4,
    )
)
def test_any_argument_list(argv: list[str]) -> None:
    if "--debug" in argv:
        argv = [a for a in argv if a != "--debug"]  # --debug shows tracebacks on purpose
    with tempfile.TemporaryDirectory() as d:
        _run(Path(d), argv, Path(d) / "none")
