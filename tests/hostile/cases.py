"""The hostile inputs of issue 6, as data: one :class:`Case` per file, grouped by what reads it.

Each case builds one file.  ``expect`` says what a command reading it must do:

* ``"error"``: exit 2 with one ``error:`` line;
* ``"either"``: exit 0 or a clean exit 2 (a bit-flip may still decode);
* ``"twin"``: behave exactly as a clean float32 .npy file holding ``twin`` would (same
  exit status, byte-identical ``-o`` output): the proof that a converted or oddly
  formatted file gives the correct result, not merely some result;
* ``"ok"``: exit 0.

``note`` is a regex that must appear in the output when the command succeeds (integer
and bool arrays are converted, and the output says so).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.hostile import helpers as h

Build = Callable[[Path], bytes | None]  # bytes to write, or None when it wrote the path itself


@dataclass
class Case:
    id: str
    filename: str
    build: Build
    expect: str
    twin: np.ndarray | None = None
    note: str = ""
    by_slot: dict[str, str] = field(default_factory=dict)  # expect overrides per slot name


M = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
CSV = "\n".join(",".join(str(int(v)) for v in row) for row in M) + "\n"
RNG = np.random.default_rng(6)
RANDOM = RNG.integers(0, 256, 4096, dtype=np.uint8).tobytes()
_PIX = RNG.integers(0, 256, (24, 20), dtype=np.uint8)
GOOD_PNG = h.png_bytes(_PIX)
GOOD_JPEG = h.jpeg_bytes(np.stack([_PIX, _PIX[::-1], _PIX[:, ::-1]], axis=-1))
_BOMB: list[bytes] = []


def _bomb(_: Path) -> bytes:
    if not _BOMB:
        _BOMB.append(h.png_bomb())
    return _BOMB[0]


def _sparse_text(size: int) -> Build:
    def build(p: Path) -> None:
        with open(p, "wb") as fh:
            fh.write(b"[[")
            fh.truncate(size)

    return build


def _evil_npy(p: Path) -> bytes:
    return h.npy_bytes(h.evil_object_array(p.parent), allow_pickle=True)


def _evil_npz(p: Path) -> bytes:
    return h.zip_bytes({"x.npy": h.npy_bytes(h.evil_object_array(p.parent), allow_pickle=True)})


def _b(data: bytes) -> Build:
    return lambda p: data


def _npy(arr: np.ndarray) -> Build:
    return lambda p: h.npy_bytes(arr)


# ---------------------------------------------------------------- images (tensor inputs only)
IMAGE_CASES = [
    Case("png-random-bytes", "r.png", _b(RANDOM), "error"),
    Case("jpg-random-bytes", "r.jpg", _b(RANDOM), "error"),
    Case("png-truncated", "t.png", _b(GOOD_PNG[: len(GOOD_PNG) // 2]), "error"),
    Case("png-header-only", "ho.png", _b(GOOD_PNG[:40]), "error"),
    Case("jpg-truncated", "t.jpg", _b(GOOD_JPEG[: len(GOOD_JPEG) // 3]), "error"),
    Case("png-bitflip", "f.png", _b(h.flip(GOOD_PNG, 61)), "either"),
    Case("png-bitflip-dense", "fd.png", _b(h.flip(GOOD_PNG, 5, 12)), "either"),
    Case("jpg-bitflip", "f.jpg", _b(h.flip(GOOD_JPEG, 97, 200)), "either"),
    Case("jpg-bitflip-header", "fh.jpg", _b(h.flip(GOOD_JPEG, 11, 2)), "either"),
    Case("png-decompression-bomb", "bomb.png", _bomb, "error"),
    Case("png-claims-100000x100000", "claim.png", _b(h.png_claiming(100_000, 100_000)), "error"),
    Case("png-gray-good", "g.png", _b(h.png_bytes(M.astype(np.uint8) * 15)), "twin", M * 15),
]

# ------------------------------------------------- matrices (tensor inputs and kernel files)
_M2 = M + 100
_BLOCKS = CSV + "\n" + "\n".join(",".join(str(int(v)) for v in row) for row in _M2) + "\n"
MATRIX_CASES = [
    Case("empty-csv", "e.csv", _b(b""), "error"),
    Case("empty-npy", "e.npy", _b(b""), "error"),
    Case("csv-bom", "bom.csv", _b(b"\xef\xbb\xbf" + CSV.encode()), "twin", M),
    Case(
        "csv-quotes",
        "q.csv",
        _b("\n".join(",".join(f'"{int(v)}"' for v in r) for r in M).encode()),
        "twin",
        M,
    ),
    Case("csv-crlf", "crlf.csv", _b(CSV.replace("\n", "\r\n").encode()), "twin", M),
    Case("csv-trailing-sep", "ts.csv", _b(CSV.replace("\n", ",\n").encode()), "twin", M),
    Case("csv-empty-lines", "el.csv", _b(("\n\n" + CSV + "\n\n\n").encode()), "twin", M),
    Case("csv-one-value", "one.csv", _b(b"7"), "twin", np.array([[7.0]], np.float32)),
    Case("csv-ragged", "rg.csv", _b(b"1,2,3\n4,5\n6,7,8\n"), "error"),
    Case("csv-1e999", "big.csv", _b(CSV.replace("16", "1e999").encode()), "error"),
    Case("csv-minus-1e999", "nbig.csv", _b(CSV.replace("1,", "-1e999,", 1).encode()), "error"),
    Case(
        "csv-wide-row",
        "wide.csv",
        _b(",".join(["2"] * 100_000).encode()),
        "twin",
        np.full((1, 100_000), 2, np.float32),
    ),
    Case("csv-non-numeric", "nn.csv", _b(CSV.replace("7", "seven").encode()), "error"),
    Case("csv-random-bytes", "r.csv", _b(RANDOM), "error"),
    Case("csv-channel-blocks", "ch.csv", _b(_BLOCKS.encode()), "twin", np.stack([M, _M2])),
    Case("txt-spaces", "s.txt", _b(CSV.replace(",", "  ").encode()), "twin", M),
    Case("tsv-tabs", "t.tsv", _b(CSV.replace(",", "\t").encode()), "twin", M),
    Case("npy-object-pickle", "obj.npy", _evil_npy, "error"),
    Case(
        "npy-raw-pickle",
        "raw.npy",
        lambda p: __import__("pickle").dumps(h.Evil(str(p.parent / h.MARKER))),
        "error",
    ),
    Case("npy-complex", "c.npy", _npy(M.astype(np.complex64)), "error"),
    Case(
        "npy-bool",
        "b.npy",
        _npy(M > 8),
        "twin",
        (M > 8).astype(np.float32),
        "bool values converted",
    ),
    Case(
        "npy-int8",
        "i8.npy",
        _npy(M.astype(np.int8)),
        "twin",
        M,
        r"integer values \(int8\) converted",
    ),
    Case(
        "npy-int64",
        "i64.npy",
        _npy(M.astype(np.int64)),
        "twin",
        M,
        r"integer values \(int64\) converted",
    ),
    Case(
        "npy-uint8",
        "u8.npy",
        _npy(M.astype(np.uint8)),
        "twin",
        M,
        r"integer values \(uint8\) converted",
    ),
    Case(
        "npy-float64", "f64.npy", _npy(M.astype(np.float64)), "twin", M, "float64 values converted"
    ),
    Case("npy-big-endian", "be.npy", _npy(M.astype(">f4")), "twin", M),
    Case("npy-fortran-order", "fo.npy", _npy(np.asfortranarray(M)), "twin", M),
    Case(
        "npy-structured",
        "st.npy",
        _npy(np.zeros((4, 4), dtype=[("a", "f4"), ("b", "i4")])),
        "error",
    ),
    Case("npy-zero-size", "z.npy", _npy(np.zeros((0, 4), np.float32)), "error"),
    Case("npy-zero-size-4d", "z4.npy", _npy(np.zeros((1, 0, 4, 4), np.float32)), "error"),
    Case("npy-zero-itemsize", "v0.npy", _b(h.npy_header("|V0", (4, 4))), "error"),
    Case("npy-1d", "v.npy", _npy(np.arange(5, dtype=np.float32)), "error"),
    Case("npy-5d", "f5.npy", _npy(np.ones((1, 1, 1, 4, 4), np.float32)), "error"),
    Case(
        "npy-lying-shape",
        "ls.npy",
        _b(h.npy_header("<f8", (100_000, 100_000)) + b"\0" * 64),
        "error",
    ),
    Case("npy-random-bytes", "r.npy", _b(RANDOM), "error"),
    Case("npz-pickle", "p.npz", _evil_npz, "error"),
    Case("npz-random-bytes", "r.npz", _b(RANDOM), "error"),
    Case(
        "npz-int16",
        "i.npz",
        lambda p: h.zip_bytes({"x.npy": h.npy_bytes(M.astype(np.int16))}),
        "twin",
        M,
        "integer values",
    ),
    Case("json-deep", "d.json", _b(b"[" * 100_000 + b"]" * 100_000), "error"),
    Case("json-huge", "huge.json", _sparse_text(60 * 1024 * 1024), "error"),
    Case("json-ints", "g.json", _b(json.dumps(M.astype(int).tolist()).encode()), "twin", M),
    Case("json-nested-objects", "o.json", _b(b'{"a":' * 200 + b"1" + b"}" * 200), "error"),
]

TENSOR_CASES = IMAGE_CASES + MATRIX_CASES
KERNEL_CASES = MATRIX_CASES + IMAGE_CASES[:2]

# ------------------------------------------------------------------ weights (forward -w)
# the network of SPEC_TEXT: 0 Conv2d(1→2, 3×3), 1 ReLU, 2 Flatten, 3 Linear(8→3)
SPEC_TEXT = """name = "Tiny"
input = [1, 4, 4]

[[layers]]
type = "Conv2d"
out_channels = 2
kernel_size = 3

[[layers]]
type = "ReLU"

[[layers]]
type = "Flatten"

[[layers]]
type = "Linear"
out_features = 3
"""
_W = np.random.default_rng(1)
STATE = {
    "0.weight": _W.integers(-3, 4, (2, 1, 3, 3)).astype(np.float32),
    "0.bias": np.array([1.0, -1.0], np.float32),
    "3.weight": _W.integers(-3, 4, (3, 8)).astype(np.float32),
    "3.bias": np.array([1.0, 0.0, -2.0], np.float32),
}


def _npz(state: dict[str, np.ndarray]) -> Build:
    return lambda p: h.zip_bytes({f"{k}.npy": h.npy_bytes(v) for k, v in state.items()})


def _with(**changes: np.ndarray | None) -> dict[str, np.ndarray]:
    out = dict(STATE)
    for key, value in changes.items():
        name = key.replace("__", ".")
        if value is None:
            out.pop(name)
        else:
            out[name] = value
    return out


def _st_lying(length: int) -> Build:
    good = h.safetensors_bytes(STATE)

    def build(p: Path) -> bytes:
        return length.to_bytes(8, "little") + good[8:]

    return build


def _st_offsets(p: Path) -> bytes:
    header = {
        "0.weight": {"dtype": "F32", "shape": [2, 1, 3, 3], "data_offsets": [0, 10**12]},
    }
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + b"\0" * 72


def _st_deep(p: Path) -> bytes:
    text = b"[" * 50_000 + b"]" * 50_000
    return len(text).to_bytes(8, "little") + text


WEIGHT_CASES = [
    Case("w-npz-good", "good.npz", _npz(STATE), "twin", None),
    Case(
        "w-npz-int64",
        "i64.npz",
        _npz({k: v.astype(np.int64) for k, v in STATE.items()}),
        "twin",
        None,
        "weights converted from .*int64",
    ),
    Case(
        "w-npz-float64",
        "f64.npz",
        _npz({k: v.astype(np.float64) for k, v in STATE.items()}),
        "twin",
        None,
        "weights converted from float64",
    ),
    Case(
        "w-npz-bool-bias", "bb.npz", _npz(_with(**{"0__bias": np.array([True, False])})), "either"
    ),
    Case(
        "w-npz-pickle",
        "p.npz",
        lambda p: h.zip_bytes(
            {
                **{f"{k}.npy": h.npy_bytes(v) for k, v in STATE.items()},
                "0.bias.npy": h.npy_bytes(h.evil_object_array(p.parent), True),
            }
        ),
        "error",
    ),
    Case("w-npz-random-bytes", "r.npz", _b(RANDOM), "error"),
    Case("w-npz-empty-zip", "e.npz", _b(h.zip_bytes({})), "error"),
    Case("w-npz-missing-key", "mk.npz", _npz(_with(**{"3__bias": None})), "error"),
    Case(
        "w-npz-unexpected-key",
        "uk.npz",
        _npz(_with(**{"9__weight": np.ones(2, np.float32)})),
        "error",
    ),
    Case(
        "w-npz-wrong-shape",
        "ws.npz",
        _npz(_with(**{"3__weight": np.ones((3, 9), np.float32)})),
        "error",
    ),
    Case("w-npz-complex", "c.npz", _npz(_with(**{"0__bias": np.ones(2, np.complex64)})), "error"),
    Case(
        "w-npz-lying-member",
        "lm.npz",
        lambda p: h.zip_bytes({"0.weight.npy": h.npy_header("<f4", (10**6, 10**6))}),
        "error",
    ),
    Case("w-npz-truncated", "tr.npz", lambda p: _npz(STATE)(p)[:200], "error"),  # type: ignore[index]
    Case("w-npy-not-npz", "w.npy", _npy(M), "error"),
    Case("w-png", "w.png", _b(GOOD_PNG), "error"),
    Case("st-good", "good.safetensors", lambda p: h.safetensors_bytes(STATE), "twin", None),
    Case("st-header-length-huge", "lh.safetensors", _st_lying(2**63), "error"),
    Case("st-header-length-past-end", "lp.safetensors", _st_lying(10_000), "error"),
    Case("st-header-length-zero", "l0.safetensors", _st_lying(0), "error"),
    Case("st-offsets-outside", "oo.safetensors", _st_offsets, "error"),
    Case("st-deep-json-header", "dj.safetensors", _st_deep, "error"),
    Case("st-random-bytes", "r.safetensors", _b(RANDOM), "error"),
    Case("st-short", "s.safetensors", _b(b"\x01\x02"), "error"),
]

# ----------------------------------------------------------- specs (shapes SPEC, forward -m)


def _toml(text: str) -> Build:
    return lambda p: text.encode()


def _json(obj: object) -> Build:
    return lambda p: json.dumps(obj).encode()


def _layer_toml(**kv: object) -> str:
    body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in kv.items())
    return f"input = [1, 4, 4]\n\n[[layers]]\n{body}\n"


def _nested(depth: int) -> Build:
    """Sequential inside Sequential ``depth`` times (text built directly: json.dumps would recurse)."""
    text = '{"type": "Sequential", "layers": [' * depth + '{"type": "ReLU"}' + "]}" * depth
    return _b(('{"input": [1, 4, 4], "layers": [' + text + "]}").encode())


CONV = {"type": "Conv2d", "out_channels": 2, "kernel_size": 3}
SPEC_CASES = [
    Case("spec-good-bom", "bom.toml", _b(b"\xef\xbb\xbf" + SPEC_TEXT.encode()), "ok"),
    Case(
        "spec-good-json",
        "good.json",
        _json({"input": [1, 4, 4], "layers": [CONV, {"type": "Flatten"}]}),
        "ok",
    ),
    Case("spec-empty", "e.toml", _b(b""), "error"),
    Case("spec-random-bytes-toml", "r.toml", _b(RANDOM), "error"),
    Case("spec-random-bytes-json", "r.json", _b(RANDOM), "error"),
    Case("spec-not-utf8", "l1.toml", _b('name = "é"\nlayers = []\n'.encode("latin-1")), "error"),
    Case("spec-wrong-extension", "net.yaml", _b(SPEC_TEXT.encode()), "error"),
    Case("spec-top-level-list", "tl.json", _json([CONV]), "error"),
    Case("spec-layers-string", "ls.toml", _toml('layers = "Conv2d"\n'), "error"),
    Case("spec-layers-empty", "le.toml", _toml("layers = []\n"), "error"),
    Case("spec-layer-is-int", "li.json", _json({"layers": [1]}), "error"),
    Case("spec-type-missing", "tm.toml", _toml(_layer_toml(out_channels=2)), "error"),
    Case("spec-type-not-string", "tn.json", _json({"layers": [{"type": 3}]}), "error"),
    Case(
        "spec-unknown-layer", "ul.toml", _toml(_layer_toml(type="Conv3d", out_channels=2)), "error"
    ),
    Case(
        "spec-unknown-key",
        "uk.toml",
        _toml(_layer_toml(type="ReLU", inplace=False, foo=1)),
        "error",
    ),
    Case("spec-unknown-top-key", "ut.json", _json({"layers": [CONV], "imports": ["x"]}), "error"),
    Case(
        "spec-out-channels-string",
        "os.toml",
        _toml(_layer_toml(type="Conv2d", out_channels="10", kernel_size=3)),
        "error",
    ),
    Case(
        "spec-kernel-float",
        "kf.toml",
        _toml(_layer_toml(type="Conv2d", out_channels=2, kernel_size=2.5)),
        "error",
    ),
    Case(
        "spec-kernel-bool",
        "kb.json",
        _json({"input": [1, 4, 4], "layers": [{**CONV, "kernel_size": True}]}),
        "error",
    ),
    Case(
        "spec-bias-string",
        "bs.toml",
        _toml(_layer_toml(type="Conv2d", out_channels=2, kernel_size=3, bias="yes")),
        "error",
    ),
    Case(
        "spec-input-string",
        "is.toml",
        _toml('input = "1x4x4"\n[[layers]]\ntype = "ReLU"\n'),
        "error",
    ),
    Case("spec-input-bools", "ib.json", _json({"input": [True, 4, 4], "layers": [CONV]}), "error"),
    Case("spec-input-zero", "iz.json", _json({"input": [0, 4, 4], "layers": [CONV]}), "error"),
    Case("spec-input-negative", "in.json", _json({"input": [1, -4, 4], "layers": [CONV]}), "error"),
    Case(
        "spec-out-channels-zero",
        "oz.json",
        _json({"input": [1, 4, 4], "layers": [{**CONV, "out_channels": 0}]}),
        "error",
    ),
    Case(
        "spec-kernel-negative",
        "kn.json",
        _json({"input": [1, 4, 4], "layers": [{**CONV, "kernel_size": -3}]}),
        "error",
    ),
    Case(
        "spec-stride-zero",
        "sz.json",
        _json({"input": [1, 4, 4], "layers": [{**CONV, "stride": [1, 0]}]}),
        "error",
    ),
    Case(
        "spec-padding-negative",
        "pn.json",
        _json({"input": [1, 4, 4], "layers": [{**CONV, "padding": -1}]}),
        "error",
    ),
    Case(
        "spec-linear-zero",
        "lz.json",
        _json(
            {
                "input": [1, 4, 4],
                "layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 0}],
            }
        ),
        "error",
    ),
    Case("spec-dropout-p-2", "dp.toml", _toml(_layer_toml(type="Dropout", p=2.0)), "error"),
    Case(
        "spec-eps-nan",
        "en.toml",
        _toml('input = [1, 4, 4]\n[[layers]]\ntype = "BatchNorm2d"\neps = nan\n'),
        "error",
    ),
    Case(
        "spec-slope-inf",
        "si.json",
        _b(b'{"input": [1, 4, 4], "layers": [{"type": "LeakyReLU", "negative_slope": 1e999}]}'),
        "error",
    ),
    Case(
        "spec-kernel-2-pow-70",
        "k70.json",
        _json({"input": [1, 4, 4], "layers": [{**CONV, "kernel_size": 2**70}]}),
        "error",
    ),
    # shapes answers without data (a note says forward would refuse); forward refuses
    Case(
        "spec-channels-1e30",
        "c30.json",
        _json({"input": [1, 4, 4], "layers": [{**CONV, "out_channels": 10**30}]}),
        "error",
        by_slot={"shapes SPEC": "ok"},
    ),
    Case(
        "spec-input-too-small", "small.json", _json({"input": [1, 2, 2], "layers": [CONV]}), "error"
    ),
    Case(
        "spec-in-channels-mismatch",
        "cm.json",
        _json({"input": [1, 4, 4], "layers": [{**CONV, "in_channels": 3}]}),
        "error",
    ),
    Case("spec-nesting-9", "n9.json", _nested(9), "error"),
    Case("spec-nesting-500", "n500.json", _nested(500), "error"),
    Case("spec-json-100000-brackets", "deep.json", _b(b"[" * 100_000 + b"]" * 100_000), "error"),
    Case(
        "spec-toml-deep-arrays",
        "deep.toml",
        _b(b"input = " + b"[" * 100_000 + b"]" * 100_000 + b"\n"),
        "error",
    ),
    Case(
        "spec-toml-deep-tables",
        "dt.toml",
        _b(b"x = " + b"{a = " * 5_000 + b"1" + b"}" * 5_000 + b"\n"),
        "error",
    ),
    Case("spec-huge-file", "huge.toml", _b(b"# " + b"x" * 1_100_000 + b"\nlayers = []\n"), "error"),
    Case(
        "spec-10001-layers",
        "many.json",
        _json({"input": [1, 4, 4], "layers": [{"type": "ReLU"}] * 10_001}),
        "error",
    ),
    # "Cycles": the format has no references, so a cycle can only be attempted by name.
    Case(
        "spec-cycle-duplicate-names",
        "dn.json",
        _json(
            {"input": [1, 4, 4], "layers": [{**CONV, "name": "a"}, {"type": "ReLU", "name": "a"}]}
        ),
        "error",
    ),
    Case(
        "spec-cycle-layers-by-name",
        "ln.json",
        _json({"input": [1, 4, 4], "layers": [{"type": "Sequential", "name": "a", "layers": "a"}]}),
        "error",
    ),
    Case(
        "spec-cycle-shortcut-by-name",
        "sn.json",
        _json(
            {
                "input": [1, 4, 4],
                "layers": [
                    {"type": "Residual", "name": "b", "layers": [{"type": "ReLU"}], "shortcut": "b"}
                ],
            }
        ),
        "error",
    ),
    Case("spec-cycle-layers-self-key", "sk.toml", _toml('layers = "layers"\n'), "error"),
    Case(
        "spec-name-path",
        "np.json",
        _json({"input": [1, 4, 4], "layers": [{**CONV, "name": "../x"}]}),
        "error",
    ),
]

GROUPS: dict[str, list[Case]] = {
    "tensor": TENSOR_CASES,
    "kernel": KERNEL_CASES,
    "weights": WEIGHT_CASES,
    "spec": SPEC_CASES,
}
