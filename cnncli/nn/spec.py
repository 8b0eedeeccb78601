"""Architectures from a file: TOML (tomllib) or JSON specs, validated before anything is built.

A spec is a table with an optional ``input = [C, H, W]`` and an array ``layers``;
each layer has ``type`` (a PyTorch class name), that class's own argument names
and an optional ``name``. ``in_channels``, ``in_features``, ``num_features``,
``inplanes`` and ``input_channels`` are inferred from the running shape when left out
(:data:`~cnncli.nn.spec_schema.INFERRED`). Containers: ``Sequential`` (``layers``),
``BasicBlock`` and ``Bottleneck`` (torchvision's residual blocks), ``Residual``
(``layers`` = main path, optional ``shortcut``, ``relu``), and ``Concat`` / ``Multiply``
(``branches``: each a table with ``name`` and ``layers``, none for the identity, or a
layer table; outputs joined by ``torch.cat(dim=1)`` or multiplied); torchvision's
``SqueezeExcitation``, ``Fire``, ``Inception`` and ``BasicConv2d`` by their arguments.
See docs/spec-format.md.

Every mistake raises :class:`SpecError` naming the layer (its path, e.g.
``layers[3]`` or ``layers[2].shortcut[0]``, and its type) and the key; a spec with
several mistakes (unknown keys, bad values, unknown types) gets one SpecError listing
them all, joined by "; " on its one line. A PyTorch layer cnncli has no counterpart
for (``ConvTranspose2d``, ``LSTM``, ...) is named as such, never "corrected". Parsing is
bounded: files over 1 MB, nesting deeper than 8 containers and more than 10 000
layers are refused before any work.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnncli.errors import CnncliError, InputFileError, ParameterError, SpecError
from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn.spec_schema import (
    ACTIVATION_KEYS,
    INFERRED,
    NESTED,
    REQUIRED,
    SCHEMA,
    TORCH_UNSUPPORTED,
    BadValueError,
    pos_int,
    show,
)

MAX_BYTES = 1_000_000
MAX_DEPTH = 8
MAX_LAYERS = 10_000
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_TOP_KEYS = {"input", "layers", "name", "description"}


@dataclass
class SpecModel:
    """A network built from a spec, with the input shape it declares (if any)."""

    model: L.Network
    input_shape: tuple[int, int, int] | None
    source: str


#: At most this many problems of one spec are listed in its error (then "and N more").
MAX_PROBLEMS = 10


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """Read and parse a .toml or .json spec (bounded), returning its top-level table."""
    p = Path(path)
    name = str(path)  # as the user typed it, like a missing INPUT: "NAME: no such file"
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise InputFileError(f"{name}: no such file") from None
    except PermissionError:
        raise InputFileError(f"{name}: permission denied") from None
    except OSError as exc:
        raise InputFileError(f"{name}: cannot read it ({exc.strerror or exc})") from None
    if p.is_dir():
        raise InputFileError(f"{name}: is a directory, not a file")
    if not p.is_file():
        raise InputFileError(f"{name}: is not a regular file")
    if size > MAX_BYTES:
        raise SpecError(
            f"spec {p.name!r} is {size:,} bytes; specs are limited to {MAX_BYTES:,} bytes"
        )
    try:
        raw = p.read_bytes()[: MAX_BYTES + 1]
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        raise InputFileError(f"cannot read spec {str(p)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"spec {p.name!r} is not UTF-8 text (byte {exc.start})") from None
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise SpecError(f"spec {p.name!r} must end in .toml or .json")
    return parse_spec_text(text, "json" if suffix == ".json" else "toml", p.name)


def parse_spec_text(text: str, fmt: str, source: str = "spec") -> dict[str, Any]:
    """Parse spec text ('toml' or 'json'); syntax errors become :class:`SpecError`."""
    if len(text) > MAX_BYTES:
        raise SpecError(f"{source} is longer than {MAX_BYTES:,} characters")
    try:
        data = json.loads(text) if fmt == "json" else tomllib.loads(text)
    except RecursionError:
        raise SpecError(f"{source}: nested too deeply to parse") from None
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source}: invalid TOML: {exc}") from None
    except ValueError as exc:  # e.g. JSON integers longer than Python allows
        raise SpecError(f"{source}: cannot parse: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{source}: the top level must be a table/object with a 'layers' array")
    return data


class _ProblemError(SpecError):
    """One problem of a spec, at ``what`` (``layers[3] (Conv2d)``; empty: the top level).

    ``short`` is the wording in a list of several problems (without a long list of types).
    """

    def __init__(
        self, source: str, what: str, message: str, hint: str | None, short: str | None
    ) -> None:
        super().__init__(f"{source}: {what + ': ' if what else ''}{message}", hint=hint)
        self.what = what
        self.short = short or message


class _Builder:
    """Builds a spec's layers, collecting every problem it finds (see :meth:`raise_problems`).

    A layer with a problem is left out and the shapes after it are no longer followed (as
    after a too-small input), so that one mistake does not set off others.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.count = 0
        self.failed: CnncliError | None = None
        self.problems: list[_ProblemError] = []

    def error(
        self,
        where: str,
        typ: str | None,
        message: str,
        hint: str | None = None,
        short: str | None = None,
    ) -> _ProblemError:
        what = f"{where} ({typ})" if typ else where
        return _ProblemError(self.source, what, message, hint, short)

    def record(self, problem: _ProblemError) -> None:
        """Keep ``problem``; the shapes after it are not followed any more."""
        self.problems.append(problem)
        if self.failed is None:
            self.failed = problem

    def raise_problems(self) -> None:
        """Raise the one problem as it is, or all of them in one SpecError (one line)."""
        if not self.problems:
            return
        if len(self.problems) == 1:
            raise self.problems[0]
        shown = self.problems[:MAX_PROBLEMS]
        parts = []
        for p in shown:
            text = f"{p.what}: {p.short}" if p.what else p.short
            parts.append(f"{text} ({p.hint})" if p.hint else text)
        more = len(self.problems) - len(shown)
        tail = f"; and {more} more" if more else ""
        hint = None
        if any(p.short.startswith("unknown layer type") for p in self.problems):
            hint = f"known layer types: {', '.join(SCHEMA)}"
        raise SpecError(
            f"{self.source}: {len(self.problems)} problems: {'; '.join(parts)}{tail}", hint=hint
        )

    def layers(
        self, items: Any, where: str, shape: L.Shape | None, depth: int
    ) -> tuple[list[tuple[str, L.Layer]], L.Shape | None]:
        if depth > MAX_DEPTH:  # a bound, not a problem to collect: stop here
            raise SpecError(
                f"{self.source}: {where}: containers are nested more than {MAX_DEPTH} deep"
            )
        if not isinstance(items, list):
            raise self.error(where, None, f"must be an array of layer tables, got {show(items)}")
        built: list[tuple[str, L.Layer]] = []
        names: set[str] = set()
        for i, item in enumerate(items):
            self.count += 1
            if self.count > MAX_LAYERS:
                raise SpecError(f"{self.source}: more than {MAX_LAYERS:,} layers")
            here = f"{where}[{i}]"
            try:
                layer, name = self.layer(item, here, shape, depth)
            except _ProblemError as problem:
                self.record(problem)
                layer, name = None, None
            if name is None:
                name = str(i)
            elif name in names or name.isdigit():
                self.record(
                    self.error(here, item.get("type"), f"key 'name': {name!r} is used twice")
                )
            names.add(name)
            if layer is None:
                continue
            built.append((name, layer))
            shape = self.advance(layer, shape)
        return built, shape

    def advance(self, layer: L.Layer, shape: L.Shape | None) -> L.Shape | None:
        if shape is None or self.failed is not None:
            return None
        try:
            return layer.output_shape(shape)
        except CnncliError as exc:
            # The input is too small (or the wrong rank) here: keep building what can be
            # checked; the summary walk reports this layer with its formula.
            self.failed = exc
            return None

    def layer(
        self, item: Any, where: str, shape: L.Shape | None, depth: int
    ) -> tuple[L.Layer | None, str | None]:
        if not isinstance(item, dict):
            raise self.error(where, None, f"must be a table with a 'type' key, got {show(item)}")
        typ = item.get("type")
        if not isinstance(typ, str):
            raise self.error(
                where, None, f"key 'type' is missing or not a string (got {show(typ)})"
            )
        if typ not in SCHEMA:
            known = f"known types: {', '.join(SCHEMA)}"
            if typ in TORCH_UNSUPPORTED:
                unsupported = f"{typ} is a PyTorch layer that cnncli does not support yet"
                supported = f"cnncli's layer types: {', '.join(SCHEMA)}"
                raise self.error(where, typ, f"{unsupported}; {supported}", short=unsupported)
            same = [t for t in SCHEMA if t.lower() == typ.lower()]  # Conv2D: only Conv2d
            close = same or difflib.get_close_matches(typ, SCHEMA, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}?" if close else None
            raise self.error(
                where, typ, f"unknown layer type; {known}", hint=hint, short="unknown layer type"
            )
        schema = SCHEMA[typ]
        nested = NESTED.get(typ, ())
        name = item.get("name")
        if name is not None and (not isinstance(name, str) or not _NAME.fullmatch(name)):
            raise self.error(
                where,
                typ,
                f"key 'name' must be letters, digits and _ (not starting with a digit, "
                f"at most 64), got {show(name)}",
            )
        args: dict[str, Any] = {}
        before = len(self.problems)
        suggested: set[str] = set()  # a misspelt key is not missing too
        for key, value in item.items():  # every key's problem, not only the first
            if key in ("type", "name") or key in nested:
                continue
            if key not in schema:
                close = difflib.get_close_matches(key, list(schema) + list(nested), n=2, cutoff=0.6)
                known = ", ".join(list(schema) + list(nested)) or "none"
                hint = f"did you mean {', '.join(close)}?" if close else None
                suggested.update(close[:1])
                self.record(
                    self.error(
                        where,
                        typ,
                        f"unknown key {key!r} (keys: {known})",
                        hint=hint,
                        short=f"unknown key {key!r}",
                    )
                )
                continue
            try:
                args[key] = schema[key](value)
            except BadValueError as bad:
                self.record(self.error(where, typ, f"key {key!r} {bad}"))
        for key in REQUIRED.get(typ, ()):
            if key not in item and key not in suggested:
                self.record(self.error(where, typ, f"key {key!r} is required"))
        if len(self.problems) > before:
            return None, name
        if typ in NESTED:
            return self.container(typ, item, args, where, shape, depth), name
        self.infer(typ, args, where, shape)
        if self.failed is not None or (shape is None and self._needs_shape(typ, args)):
            return None, name
        for key in ACTIVATION_KEYS.get(typ, ()):
            if key in args:
                args[key] = self.activation(args[key], where, typ, key)
        try:
            return L.LAYER_TYPES[typ](**args), name
        except CnncliError as exc:
            raise self.error(where, typ, exc.message) from None

    @staticmethod
    def _needs_shape(typ: str, args: dict[str, Any]) -> bool:
        key = INFERRED.get(typ)
        return key is not None and key not in args

    @staticmethod
    def activation_names() -> list[str]:
        """Element-wise activation layers that take no required argument (ReLU, Sigmoid ...)."""
        return [
            name
            for name, cls in L.LAYER_TYPES.items()
            if cls.__module__ == "cnncli.nn.layers.activation" and name != "Softmax"
        ]

    def activation(self, value: str, where: str, typ: str, key: str) -> L.Layer:
        """The activation layer a key such as SqueezeExcitation's ``activation`` names."""
        names = self.activation_names()
        if value not in names:
            raise self.error(
                where, typ, f"key {key!r} must be one of {', '.join(names)}, got {show(value)}"
            )
        return L.LAYER_TYPES[value]()

    def infer(self, typ: str, args: dict[str, Any], where: str, shape: L.Shape | None) -> None:
        """Fill in_channels / in_features / num_features / inplanes, or check them."""
        key = INFERRED.get(typ)
        if key is None or self.failed is not None:
            return
        if shape is None:
            if key not in args:
                raise self.error(
                    where,
                    typ,
                    f"key {key!r} cannot be inferred: the spec has no input = [C, H, W]",
                    hint="add input = [C, H, W] to the spec, give --input CxHxW, or set the key",
                )
            return
        if typ == "Linear":
            have, what = shape[-1], f"the input {tuple(shape)} has {shape[-1]} features"
        else:
            if len(shape) != 4 and typ not in ("BatchNorm1d", "GroupNorm"):
                raise self.error(
                    where,
                    typ,
                    f"needs a 4-D input (N, C, H, W), but the input here is {tuple(shape)}",
                )
            have, what = shape[1], f"the input {tuple(shape)} has {shape[1]} channels"
        if key in args and args[key] != have:
            raise self.error(
                where, typ, f"key {key!r} is {args[key]} but {what} (channel mismatch)"
            )
        args[key] = have

    def container(
        self,
        typ: str,
        item: dict[str, Any],
        args: dict[str, Any],
        where: str,
        shape: L.Shape | None,
        depth: int,
    ) -> L.Layer | None:
        if typ in ("Concat", "Multiply"):
            return self.branches(typ, item, where, shape, depth)
        if "layers" not in item:
            raise self.error(where, typ, "key 'layers' is required (an array of layer tables)")
        start_failed = self.failed
        kids, _ = self.layers(item["layers"], f"{where}.layers", shape, depth + 1)
        main = L.Sequential(*kids)
        if typ == "Sequential":
            return main if self.failed is None or start_failed is None else None
        main_failed = self.failed
        short_kids: list[tuple[str, L.Layer]] = []
        if "shortcut" in item:
            self.failed = start_failed
            short_kids, _ = self.layers(item["shortcut"], f"{where}.shortcut", shape, depth + 1)
            self.failed = self.failed or main_failed
        if self.failed is not None and start_failed is not None:
            return None
        return L.Residual(
            main, L.Sequential(*short_kids) if short_kids else None, args.get("relu", True)
        )

    def branches(
        self, typ: str, item: dict[str, Any], where: str, shape: L.Shape | None, depth: int
    ) -> L.Layer | None:
        """A Concat's or Multiply's ``branches``: each a table with ``layers`` (a Sequential;
        none or empty: the identity) and an optional ``name``, or a layer table with ``type``.
        Every branch starts from the block's input shape."""
        items = item.get("branches")
        if not isinstance(items, list) or not items:
            raise self.error(
                where,
                typ,
                f"key 'branches' must be a non-empty array of branch tables, got {show(items)}",
                hint="each branch: [[layers.branches]] with name and [[layers.branches.layers]]",
            )
        start_failed = self.failed
        after = start_failed
        built: list[tuple[str, L.Layer]] = []
        names: set[str] = set()
        for i, branch in enumerate(items):
            here = f"{where}.branches[{i}]"
            self.failed = start_failed
            layer: L.Layer | None = None
            name: str | None = None
            try:
                layer, name = self.branch(branch, here, shape, depth)
            except _ProblemError as problem:
                self.record(problem)
            name = str(i) if name is None else name
            if name in names:  # a given name never is all digits (_NAME): no index clashes
                self.record(self.error(here, None, f"key 'name': {name!r} is used twice"))
            names.add(name)
            after = after or self.failed
            if layer is not None:
                built.append((name, layer))
        self.failed = after
        if self.failed is not None and start_failed is not None:
            return None
        return (L.Concat if typ == "Concat" else L.Multiply)(*built)

    def branch(
        self, branch: Any, where: str, shape: L.Shape | None, depth: int
    ) -> tuple[L.Layer | None, str | None]:
        """One branch: a layer table (with ``type``) or ``{name, layers}`` (a Sequential)."""
        if not isinstance(branch, dict):
            raise self.error(where, None, f"must be a table (name, layers), got {show(branch)}")
        if "type" in branch:
            self.count += 1
            return self.layer(branch, where, shape, depth + 1)
        name = branch.get("name")
        if name is not None and (not isinstance(name, str) or not _NAME.fullmatch(name)):
            raise self.error(
                where, None, f"key 'name' must be letters, digits and _, got {show(name)}"
            )
        unknown = [k for k in branch if k not in ("name", "layers")]
        if unknown:
            raise self.error(
                where,
                None,
                f"unknown key {unknown[0]!r} (a branch has name and layers, or is a layer "
                "table with type)",
            )
        kids, _ = self.layers(branch.get("layers", []), f"{where}.layers", shape, depth + 1)
        return L.Sequential(*kids), name


def build_spec(
    data: dict[str, Any], source: str = "spec", input_shape: tuple[int, int, int] | None = None
) -> SpecModel:
    """Validate a parsed spec and build its network (no parameters allocated).

    ``input_shape`` (C, H, W) overrides the spec's own ``input``.
    """
    builder = _Builder(source)

    def problem(message: str, short: str | None = None) -> None:
        builder.problems.append(_ProblemError(source, "", message, None, short))

    for key in data:
        if key not in _TOP_KEYS:
            problem(
                f"unknown top-level key {key!r} (keys: {', '.join(sorted(_TOP_KEYS))})",
                f"unknown top-level key {key!r}",
            )
    declared: tuple[int, int, int] | None = None
    if "input" in data:
        value = data["input"]
        if not isinstance(value, list) or len(value) != 3:
            problem(f"key 'input' must be [C, H, W], got {show(value)}")
            builder.failed = builder.problems[-1]  # no shapes to follow
        else:
            try:
                c, h, w = (pos_int(v) for v in value)
                declared = (c, h, w)
            except BadValueError as bad:
                problem(f"key 'input' {bad}")
                builder.failed = builder.problems[-1]
    title = data.get("name", Path(source).stem if source else "Sequential")
    if not isinstance(title, str):
        problem("key 'name' must be a string")
    description = data.get("description", "")
    if not isinstance(description, str):
        problem("key 'description' must be a string")
    if "layers" not in data:
        problem("key 'layers' is missing (an array of layer tables)")
    elif not data["layers"]:
        problem("'layers' is empty")
    if "layers" not in data or not data["layers"]:
        builder.raise_problems()
    shape_chw = input_shape or declared
    shape = (1, *shape_chw) if shape_chw is not None else None
    try:
        kids, _ = builder.layers(data["layers"], "layers", shape, 1)
    except _ProblemError as problem_:  # a problem of the top-level 'layers' value itself
        builder.record(problem_)
    builder.raise_problems()
    net = L.Network("Sequential", kids, description or f"architecture from {source}", declared)
    net.title = title
    return SpecModel(net, declared, source)


def load_spec(path: str | Path, input_shape: tuple[int, int, int] | None = None) -> SpecModel:
    """Read, validate and build the spec at ``path``."""
    data = read_spec_file(path)
    return build_spec(data, Path(path).name, input_shape)


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """``"3x224x224"`` (or ``3,224,224``) → (3, 224, 224), each at least 1."""
    parts = re.split(r"[x×,\s]+", text.strip().lower())
    if len(parts) != 3 or not all(p.isdigit() and len(p) <= 12 for p in parts):
        raise ParameterError(f"--input must be CxHxW, e.g. 3x224x224, got {text!r}")
    c, h, w = (int(p) for p in parts)
    if min(c, h, w) < 1:
        raise ParameterError(f"--input sizes must be at least 1, got {text!r}")
    return (c, h, w)


def is_spec_path(text: str) -> bool:
    """Whether a MODEL argument names a spec file rather than a zoo model."""
    return text.lower().endswith((".toml", ".json")) or "/" in text or "\\" in text


def load_model(
    model: str, input_shape: tuple[int, int, int] | None = None
) -> tuple[L.Network, tuple[int, int, int] | None]:
    """A zoo model, a spec or an ONNX file by name/path, and the input (C, H, W) it declares."""
    from cnncli.nn import zoo

    if model.lower().endswith(".onnx"):
        from cnncli.nn.onnx_import import load_onnx

        return load_onnx(model, input_shape)

    if is_spec_path(model):
        spec = load_spec(model, input_shape)
        return spec.model, spec.input_shape
    net = zoo.build(model)
    return net, net.input_shape


__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_LAYERS",
    "SpecModel",
    "build_spec",
    "is_spec_path",
    "load_model",
    "load_spec",
    "parse_spec_text",
    "read_spec_file",
]
