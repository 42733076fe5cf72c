"""Finding, loading, resolving and validating spec files.

A spec folder per README (`specs/<slug>/`) holds `_source.yaml` (the README
file and its constraint) and one YAML file per documented iteration. A spec
may `extends:` another; mappings merge recursively, lists are replaced, and
`claims`, `findings`, `title` and `source.section` are never inherited: each
iteration states its own. `architecture.modify` changes named layers of the
inherited architecture (null removes one); `architecture.defaults` fills
arguments every layer of a kind shares.

Nothing in a spec is executed: YAML is read with a safe loader that refuses
Python tags and duplicate keys, and every error names the file, the field
path and, where it can, the line.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import re
import reprlib
import stat
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml
from pydantic import Field, ValidationError

from harness.layers import KINDS, Strict, layer_kind_of
from harness.limits import MAX_EXTENDS_DEPTH, MAX_SEEDS, MAX_SPEC_BYTES, MAX_YAML_DEPTH, SPEC_REF_PATTERN
from harness.model import ArchitectureError, plan
from harness.paths import PathEscape, inside
from harness.schema import REQUIRED_FIDELITY, Spec, Text
from harness.terminal import safe
from harness.verdict import Verdict

NOT_INHERITED = ("claims", "findings", "title", "extends", "notes")
SOURCE_FILE = "_source.yaml"


def default_specs_dir() -> Path:
    return Path(os.environ.get("AUDIT_SPECS", Path(__file__).resolve().parent.parent / "specs"))


# --------------------------------------------------------------------------- errors

@dataclass
class Problem:
    path: str
    message: str
    line: int | None = None
    loc: tuple | None = None   # where to look the line up, when `path` does not spell it (dotted keys)
    file: Path | None = None   # the file that holds the problem, when a parent spec does


class SpecError(Exception):
    """One or more problems in one spec file (or in a spec it extends, which each problem names)."""

    def __init__(self, file: Path | str, problems: list[Problem]):
        self.file, self.problems = Path(file), problems
        super().__init__(str(self))

    def __str__(self):
        out = []
        for p in self.problems:
            file = p.file or self.file
            inherited = f" (inherited by {_display(self.file)})" if p.file and p.file != self.file else ""
            out.append(safe(f"{_display(file)}{f':{p.line}' if p.line else ''}: {p.path or '(top level)'}: "
                            f"{p.message}{inherited}"))  # spec strings reach terminals: escape controls
        return "\n".join(out)


def _display(path: Path) -> str:
    try:
        return str(_resolved(path).relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


def _resolved(path: Path) -> Path:
    """`path.resolve()`, or the absolute path where a symlink loop or an unreadable folder stops resolution
    (Python raises RuntimeError for a loop before 3.13, OSError after)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


# --------------------------------------------------------------------------- safe YAML with line numbers

class _SafeLoader(yaml.SafeLoader):
    """SafeLoader that also rejects duplicate keys (a silent override is a bug waiting) and aliases
    (`*name` can build exponentially large or self-referencing documents; specs share through `extends`)."""

    depth = 0  # nodes being composed, one inside the other

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "YAML aliases (*name) are not allowed in specs; "
                                              "share settings with `extends`", self.peek_event().start_mark)
        if self.depth >= MAX_YAML_DEPTH:  # the parser works lazily: refused here, nothing deeper is read
            raise yaml.composer.ComposerError(None, None, f"values nested more than {MAX_YAML_DEPTH} levels deep "
                                              "(a spec needs a handful)", self.peek_event().start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise yaml.constructor.ConstructorError(None, None, "mapping keys must be plain scalars",
                                                        key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def _line_map(node, path=(), out=None) -> dict[tuple, int]:
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)  # a key's own line wins over its value's
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            out[path + (k.value,)] = k.start_mark.line + 1
            _line_map(v, path + (k.value,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _line_map(v, path + (i,), out)
    return out


def read_spec_text(path: Path) -> str:
    """A spec file's text: a regular file of at most MAX_SPEC_BYTES, or a SpecError naming it.

    Opened without blocking and checked with fstat before a byte is read, so a FIFO, a device
    (`/dev/zero`), a symlink loop or a huge file is one spec's error, never a hang or an exhausted memory."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise SpecError(path, [Problem("", "file not found")]) from None
    except OSError as exc:
        raise SpecError(path, [Problem("", f"cannot open: {exc.strerror or exc}")]) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(path, [Problem("", f"not a regular file ({_file_kind(info.st_mode)}); "
                                               "a spec is a YAML file")])
        if info.st_size > MAX_SPEC_BYTES:
            raise SpecError(path, [Problem("", f"{info.st_size:,} bytes is larger than a spec may be "
                                               f"({MAX_SPEC_BYTES:,} bytes)")])
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(path, [Problem("", f"cannot read: {exc.strerror or exc}")]) from None
    finally:
        os.close(fd)
    if len(raw) > MAX_SPEC_BYTES:  # it grew after the fstat
        raise SpecError(path, [Problem("", f"larger than a spec may be ({MAX_SPEC_BYTES:,} bytes)")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(path, [Problem("", f"cannot read: not UTF-8 text (byte {exc.start})")]) from None


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))
    return next((name for test, name in kinds if test(mode)), "not a plain file")


def read_yaml(path: Path) -> tuple[dict, dict[tuple, int]]:
    """Parse one YAML mapping safely; returns the data and a (path -> line) map."""
    text = read_spec_text(path)
    loader = None
    try:
        loader = _SafeLoader(text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        detail = " ".join(str(x) for x in (getattr(exc, "context", None), getattr(exc, "problem", None)) if x)
        if "could not determine a constructor" in str(exc):
            detail = "YAML tags are not allowed in specs (nothing in a spec is executed)"
        raise SpecError(path, [Problem("", detail or str(exc), mark.line + 1 if mark else None)]) from None
    except RecursionError:
        raise SpecError(path, [Problem("", "YAML nesting too deep")]) from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of thousands of digits
        raise SpecError(path, [Problem("", f"unreadable value: {str(exc)[:120]}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(data, dict):
        raise SpecError(path, [Problem("", f"a spec is a YAML mapping, got {type(data).__name__}")])
    try:
        return data, _line_map(node)
    except RecursionError:
        raise SpecError(path, [Problem("", "YAML nesting too deep")]) from None


# --------------------------------------------------------------------------- the source of a folder

class SourceInfo(Strict):
    """`_source.yaml`: which README a folder audits and what that README set out to do."""

    file: Text
    title: Text
    constraint: Text
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$",
                               description="SHA256 of the README (checked by `python -m harness check` when present)")


def load_source_info(folder: Path) -> SourceInfo:
    path = folder / SOURCE_FILE
    data, lines = read_yaml(path)
    try:
        return SourceInfo.model_validate(data)
    except ValidationError as exc:
        raise SpecError(path, _problems(exc, data, _where(path, lines))) from None


# --------------------------------------------------------------------------- resolution

Where = dict  # YAML path tuple -> (file, line): where each value of a resolved spec was written
EXTENDS_NAME = re.compile(SPEC_REF_PATTERN)


def _where(path: Path, lines: dict[tuple, int]) -> Where:
    return {loc: (path, line) for loc, line in lines.items()}

def merge(base, override):
    """Mappings merge recursively; anything else (lists included) is replaced, and so is a
    mapping whose `type` changes (an Adam replacing an SGD keeps none of its arguments)."""
    if isinstance(base, dict) and isinstance(override, dict) and _same_type(base, override):
        out = dict(base)
        for k, v in override.items():
            out[k] = merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(override)


def _same_type(base: dict, override: dict) -> bool:
    return "type" not in override or "type" not in base or base["type"] == override["type"]


def _locate(name: str, child: Path) -> Path:
    folder = child.parent
    target = folder.parent / f"{name}.yaml" if "/" in name else folder / f"{name}.yaml"
    return target


def _resolve(path: Path, chain: tuple[Path, ...]) -> tuple[dict, Where]:
    data, lines = read_yaml(path)
    where = _where(path, lines)
    parent_name = data.get("extends")
    if parent_name is not None:
        problem = lambda msg: SpecError(path, [Problem("extends", msg, lines.get(("extends",)))])  # noqa: E731
        if not isinstance(parent_name, str) or not EXTENDS_NAME.match(parent_name):
            raise problem("expected the name of a spec in this folder (iteration8) or another (slug/name)")
        here = _resolved(path)
        try:
            parent_path = _locate(parent_name, path).resolve()
            exists = parent_path.exists()
        except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
            raise problem(f"cannot look up {parent_name!r}: {exc}") from None
        if parent_path in chain or parent_path == here:
            cycle = " -> ".join(p.stem for p in (*chain, here, parent_path))
            raise problem(f"cycle: {cycle}")
        if not exists:
            raise problem(f"no spec {parent_name!r} (looked for {_display(parent_path)})")
        try:  # a symlinked file or folder must not carry the chain out of the spec root
            inside(_resolved(path.parent.parent), parent_path, "`extends` target")
        except PathEscape as exc:
            raise problem(str(exc)) from None
        if len(chain) + 1 >= MAX_EXTENDS_DEPTH:
            raise problem(f"more than {MAX_EXTENDS_DEPTH} files in one `extends` chain")
        try:
            parent, parent_where = _resolve(parent_path, (*chain, here))
        except SpecError as exc:  # the error is this spec's (its test fails), each problem names its file
            raise SpecError(path, [dataclasses.replace(p, file=p.file or exc.file) for p in exc.problems]) from None
        for key in NOT_INHERITED:
            parent.pop(key, None)
        if isinstance(parent.get("source"), dict):
            parent["source"].pop("section", None)
        inherited = {loc: w for loc, w in parent_where.items()
                     if not (loc and (loc[0] in NOT_INHERITED or loc[:2] == ("source", "section")))
                     and not _replaced(loc, parent, data)}
        child_fidelity = data.get("fidelity")
        data = merge(parent, data)
        if isinstance(child_fidelity, dict) and isinstance(data.get("fidelity"), dict):
            data["fidelity"].update(copy.deepcopy(child_fidelity))  # a label is replaced whole, never blended
        where = {**inherited, **where}
    _apply_modify(data, path, lines)
    return data, where


def _replaced(loc: tuple, parent, child) -> bool:
    """Whether the child replaces (rather than merges into) the parent's value at or above `loc`."""
    for depth, part in enumerate(loc):
        if not (isinstance(child, dict) and part in child):
            return False
        parent = parent.get(part) if isinstance(parent, dict) else None
        child = child[part]
        mergeable = isinstance(child, dict) and isinstance(parent, dict) and _same_type(parent, child)
        if not mergeable or (depth == 1 and loc[0] == "fidelity"):
            return True
    return False


def _apply_modify(data: dict, path: Path, lines) -> None:
    arch = data.get("architecture")
    if not isinstance(arch, dict) or "modify" not in arch:
        return
    changes = arch.pop("modify")
    layers = arch.get("layers")
    loc = ("architecture", "modify")
    if not isinstance(changes, dict):
        raise SpecError(path, [Problem("architecture.modify", "expected a mapping of layer name to changes",
                                       lines.get(loc))])
    if not isinstance(layers, list):
        raise SpecError(path, [Problem("architecture.modify", "there are no layers to modify", lines.get(loc))])
    names = {}
    for i, entry in enumerate(layers):
        args = _entry_args(entry)
        if isinstance(args, dict) and isinstance(args.get("name"), str):
            names[args["name"]] = i
    problems, remove = [], []
    for name, change in changes.items():
        if name not in names:
            problems.append(Problem(f"architecture.modify.{name}",
                                    f"no layer named {name!r} (named layers: {', '.join(names) or 'none'})",
                                    lines.get((*loc, name))))
        elif change is None:
            remove.append(names[name])
        elif not isinstance(change, dict):
            problems.append(Problem(f"architecture.modify.{name}", "expected a mapping of arguments, or null",
                                    lines.get((*loc, name))))
        else:
            (kind, args), = layers[names[name]].items()
            layers[names[name]] = {kind: {**args, **change}}
    if problems:
        raise SpecError(path, problems)
    arch["layers"] = [e for i, e in enumerate(layers) if i not in remove]


def _entry_args(entry):
    if isinstance(entry, dict) and len(entry) == 1:
        return next(iter(entry.values()))
    return None


def _apply_defaults(data: dict) -> None:
    arch = data.get("architecture")
    if not (isinstance(arch, dict) and isinstance(arch.get("defaults"), dict) and isinstance(arch.get("layers"), list)):
        return
    defaults = arch["defaults"]
    layers = []
    for entry in arch["layers"]:
        kind = layer_kind_of(entry)
        extra = defaults.get(kind)
        if kind is None or not isinstance(extra, dict):
            layers.append(entry)
            continue
        args = {} if isinstance(entry, str) else _entry_args(entry)
        if args is None:
            args = {}
        elif not isinstance(args, dict):
            args = {KINDS[kind].shorthand: args}
        layers.append({kind: {**extra, **args}})
    arch["layers"] = layers


# --------------------------------------------------------------------------- the loaded spec

@dataclass
class LoadedSpec:
    """A validated spec with its identity: `slug/name`, e.g. `sub20k/iteration9`."""

    path: Path
    slug: str
    name: str
    spec: Spec
    data: dict = field(repr=False)  # resolved mapping before `defaults` are applied (for overrides)
    source_info: SourceInfo | None = None

    @property
    def id(self) -> str:
        return f"{self.slug}/{self.name}"

    @property
    def file_id(self) -> str:
        """The id as a file name."""
        return f"{self.slug}--{self.name}"

    @cached_property
    def spec_hash(self) -> str:
        """Hash of the whole resolved spec (claims included)."""
        return _hash(self.spec.model_dump(mode="json", warnings=False))

    @cached_property
    def training_hash(self) -> str:
        """Hash of what decides a training run (architecture and recipe): the cache key's spec part."""
        return _hash(training_form(self.spec))


def training_form(spec: Spec) -> dict:
    """The canonical form of what decides a curve: the resolved layers (without names) and the recipe,
    each without fields left at their defaults, so adding an optional field never changes a hash
    (a changed default is a change of training semantics: bump cache.TRAINING_SEMANTICS)."""
    arch = spec.architecture
    layers = [{layer.kind: layer.model_dump(mode="json", exclude_defaults=True, exclude={"name"}, warnings=False)}
              for layer in arch.layer_list()]
    return {"input": list(arch.input), "classes": arch.classes, "layers": layers,
            "recipe": spec.recipe.model_dump(mode="json", exclude_defaults=True, warnings=False)}


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def load_spec(path: Path | str) -> LoadedSpec:
    """Load, resolve and validate one spec file; raise SpecError naming file, field and line."""
    path = Path(path)
    folder = path.parent
    data, where = _resolve(path, ())
    source_info = None
    if (folder / SOURCE_FILE).is_file():
        source_info = load_source_info(folder)
        source = data.setdefault("source", {})
        if isinstance(source, dict):
            source.setdefault("file", source_info.file)
    raw = copy.deepcopy(data)  # before defaults: overrides may change the defaults themselves
    _apply_defaults(data)
    try:
        spec = Spec.model_validate(data)
        problems = check_semantics(spec, raw)
    except ValidationError as exc:
        raise SpecError(path, _problems(exc, data, where)) from None
    for p in problems:
        _place(p, where, p.loc or p.path)
    if problems:
        raise SpecError(path, problems)
    return LoadedSpec(path, folder.name, path.stem, spec, raw, source_info)


def discover(root: Path | str | None = None) -> list[Path]:
    """Every spec file under `root` (files starting with `_` are shared bases, not iterations)."""
    root = Path(root) if root is not None else default_specs_dir()
    if not root.is_dir():  # a file, or something that is not one (missing, a FIFO, a symlink loop): load_spec says which
        return [root]
    return sorted((p for p in root.rglob("*.yaml") if not p.name.startswith("_")), key=_natural_key)


def _natural_key(path: Path):
    """iteration2 before iteration10."""
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def load_all(root: Path | str | None = None) -> tuple[list[LoadedSpec], list[SpecError]]:
    specs, errors = [], []
    for path in discover(root):
        try:
            specs.append(load_spec(path))
        except SpecError as exc:
            errors.append(exc)
    return specs, errors


def with_overrides(loaded: LoadedSpec, overrides: dict) -> Spec:
    """The spec with `overrides` merged in (as `extends` would), re-validated."""
    return Spec.model_validate(_overridden(loaded.data, overrides))


# --------------------------------------------------------------------------- checks beyond the schema

def check_semantics(spec: Spec, data: dict) -> list[Problem]:
    problems: list[Problem] = []
    try:
        plan(spec.architecture)
    except ArchitectureError as exc:
        where = f"architecture.layers[{exc.index}]" if exc.index is not None else "architecture.layers"
        problems.append(Problem(where, exc.message))
    last = spec.architecture.layer_list()[-1].kind
    if spec.recipe.loss.needs_log_softmax and last != "log_softmax":
        problems.append(Problem("recipe.loss.type", "nll needs a model that ends with log_softmax"))
    input_size = min(spec.architecture.input[1:])
    for i, entry in enumerate(spec.recipe.augmentation):
        crop = getattr(entry, "center_crop_resize", None)
        if crop is not None and crop.crop > input_size:
            problems.append(Problem(f"recipe.augmentation[{i}].center_crop_resize.crop",
                                    f"crop {crop.crop} is larger than the {input_size}px input"))
        if crop is not None and crop.size != input_size:
            problems.append(Problem(f"recipe.augmentation[{i}].center_crop_resize.size",
                                    f"resizes to {crop.size}px, but the model's input is {input_size}x{input_size}"))
        resized = getattr(entry, "random_resized_crop", None)
        if resized is not None and resized.size != input_size:
            problems.append(Problem(f"recipe.augmentation[{i}].random_resized_crop.size",
                                    f"resizes to {resized.size}px, but the model's input is {input_size}x{input_size}"))
    seeds = spec.seeds if isinstance(spec.seeds, int) else len(spec.seeds)
    if seeds > MAX_SEEDS:
        problems.append(Problem("seeds", f"{seeds:,} seeds is more than the harness trains ({MAX_SEEDS})"))
    epochs = spec.recipe.epochs
    seen: dict[str, int] = {}
    for i, claim in enumerate(spec.claims):
        where = f"claims[{i}]"
        if claim.claim_id in seen:
            problems.append(Problem(f"{where}.id", f"duplicate claim id {claim.claim_id!r} "
                                                   f"(also claims[{seen[claim.claim_id]}]); give one an explicit `id`"))
        seen[claim.claim_id] = i
        for attr, message in claim.problems(epochs):
            problems.append(Problem(f"{where}.{attr}", message))
        if claim.expect == Verdict.UNVERIFIABLE and not (claim.note or getattr(claim, "reason", None)):
            problems.append(Problem(f"{where}.note", "an unverifiable claim needs a note saying why"))
    for key in REQUIRED_FIDELITY:
        if key not in spec.fidelity:
            problems.append(Problem(f"fidelity.{key}", "missing: label it documented, reconstructed or unknown",
                                    loc=("fidelity",)))
    for key in spec.fidelity:
        if not (_has_path(data, key.split(".")) or _has_field(spec, key.split("."))):
            problems.append(Problem(f"fidelity.{key}", "names no field of this spec", loc=("fidelity", key)))
    for i, finding in enumerate(spec.findings):
        if finding.overrides is None:
            continue
        try:
            alt = Spec.model_validate(_overridden(data, finding.overrides))
            count = sum(p.parameters for p in plan(alt.architecture))
        except (ValidationError, ArchitectureError, SpecError) as exc:
            problems.append(Problem(f"findings[{i}].overrides", f"do not give a valid spec: {_short(exc)}"))
            continue
        if count != finding.parameters:
            problems.append(Problem(f"findings[{i}].parameters",
                                    f"overridden, the model has {count:,} parameters, not {finding.parameters:,}"))
    return problems


def _overridden(data: dict, overrides: dict) -> dict:
    merged = merge(data, overrides)
    _apply_modify(merged, Path("<overrides>"), {})
    _apply_defaults(merged)
    return merged


def _has_path(data, parts) -> bool:
    node = data
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return True


def _has_field(obj, parts) -> bool:
    """A field the schema has at this path, set or left at torch's default (`recipe.scheduler.cycle_momentum`)."""
    from pydantic import BaseModel

    for part in parts:
        if isinstance(obj, BaseModel) and part in type(obj).model_fields:
            obj = getattr(obj, part)
        elif isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            return False
    return True


def _short(exc) -> str:
    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        return f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
    return str(exc).splitlines()[0]


# --------------------------------------------------------------------------- pydantic errors -> problems

_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required field is missing",
}


def _yaml_loc(loc, data, error_type: str) -> tuple:
    """pydantic's error location as the YAML path: union tags (a claim's kind, an optimizer's type,
    `constrained-int`, class names) are parts of `loc` that are not keys of the data, so drop them."""
    out, node = [], data
    for i, part in enumerate(loc):
        in_dict = isinstance(node, dict) and part in node
        if in_dict or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            node = node[part]
        elif not (i == len(loc) - 1 and error_type == "missing"):
            continue  # a tag, not a place in the YAML
        out.append(part)
    return tuple(out)


def _loc_text(loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _problems(exc: ValidationError, data, where: Where) -> list[Problem]:
    grouped: dict[tuple, list[dict]] = {}
    for err in exc.errors():
        grouped.setdefault(_yaml_loc(err["loc"], data, err["type"]), []).append(err)
    problems = []
    for loc, errs in grouped.items():
        messages = []
        for e in errs:
            msg = _MESSAGES.get(e["type"], e["msg"])
            if e["type"] == "extra_forbidden":
                key = loc[-1] if loc else e["loc"][-1]
                msg = f"unknown key {key!r}" + _suggest(key)
            elif e["type"] == "value_error":
                msg = msg.removeprefix("Value error, ")
            if "input" in e and e["type"] not in ("missing", "extra_forbidden") and not isinstance(e["input"], dict):
                msg += f" (got {_clip(e['input'])})"
            if msg not in messages:
                messages.append(msg)
        problem = Problem(_loc_text(loc), "; or ".join(messages) if len(messages) > 1 else messages[0])
        problems.append(_place(problem, where, loc))
    return problems


def _vocabulary() -> set[str]:
    words, todo = set(KINDS), [Strict]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        words.update(cls.model_fields)
    return words


def _suggest(key) -> str:
    import difflib

    close = difflib.get_close_matches(str(key), sorted(_vocabulary()), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close and close[0] != key else ""


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60


def _clip(value) -> str:
    return _REPR.repr(value)


def _place(problem: Problem, where: Where, loc) -> Problem:
    """Set the problem's file and line from the nearest written place at or above `loc`."""
    if isinstance(loc, str):
        loc = tuple(int(p) if p.isdigit() else p for p in loc.replace("[", ".").replace("]", "").split(".") if p)
    loc = tuple(loc)
    while loc:
        if loc in where:
            problem.file, line = where[loc]
            problem.line = problem.line or line
            return problem
        loc = loc[:-1]
    return problem


def find_spec(ref: str, root: Path | None = None) -> LoadedSpec:
    """A spec by path (`specs/sub20k/iteration9.yaml`: the caller's own file) or id (`sub20k/iteration9`, always
    inside the spec root; ids may hold dots, iteration3-lr0.001)."""
    path = Path(ref)
    if path.suffix not in (".yaml", ".yml"):
        if not EXTENDS_NAME.match(ref):
            raise SpecError(path, [Problem("(spec id)", "expected slug/name (letters, digits, _ . -), or a path "
                                           "ending in .yaml")])
        path = (root or default_specs_dir()) / f"{ref}.yaml"
    return load_spec(path)


def related_problems(loaded: LoadedSpec, find=None) -> list[tuple[int, str, str]]:
    """(claim index, field, message) for claims naming another spec (comparisons): it exists, it is not this
    spec, and the metric applies to it. `find(spec_id)` looks a spec up (default: in this spec's root)."""
    root = loaded.path.parent.parent
    find = find or (lambda spec_id: find_spec(spec_id, root))

    def epochs_of(spec_id: str) -> int | None:
        try:
            return find(spec_id).spec.recipe.epochs
        except (SpecError, OSError):
            return None

    return [(i, field, message) for i, claim in enumerate(loaded.spec.claims)
            for field, message in claim.related_problems(loaded.id, epochs_of)]
