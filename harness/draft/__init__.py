"""Drafting a spec folder from a README (`python -m harness new README --slug SLUG`).

    readme.py        the README's lines, sections, code blocks and tables
    figures.py       parameter and accuracy statements, training logs, epoch and iteration tables
    torchsummary.py  a torchsummary table back into a layer list
    modelcode.py     model code back into a layer list (read with `ast`, never run)
    codefolder.py    a code folder (--code): modules, scripts, notebooks' code cells and outputs, size-bounded
    trainingcode.py  the recipe a training script or notebook runs (scheduler stepped?, transforms, test split)
    codemap.py       README iterations to their notebooks/classes, and README-vs-code findings
    repair.py        what `check` would reject in a drafted layer list, and the fix (a missing final flatten)
    recipe.py        optimizer, scheduler, loss, batch size, epochs, normalization, augmentation
    build.py         models, their chain of `extends`, recipes and fidelity labels
    claims.py        a model's figures as typed claims
    sources.py       where a README lives (claims folder), its SHA256, figures looked up again
    compare.py       a draft against a hand-written folder

Nothing in a README or in model code is executed; untrusted README text reaches the YAML only
through yaml.safe_dump and the terminal only escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.draft import codefolder
from harness.draft.build import Draft, collect
from harness.draft.readme import Readme
from harness.draft.sources import sha256_of


@dataclass
class Written:
    draft: Draft
    folder: Path
    files: list[Path]


def draft(readme_path: Path, code: list[Path] | None = None) -> Draft:
    """The draft of a README, with its code files and folders (`--code`) read, never run."""
    return collect(Readme.read(readme_path), codefolder.read(code) if code else None)


class _NoAliases(yaml.SafeDumper):
    """Specs refuse YAML aliases, so a list the draft shares between two places is written twice."""

    def ignore_aliases(self, data):
        return True


def dump(data: dict) -> str:
    return yaml.dump(data, Dumper=_NoAliases, sort_keys=False, allow_unicode=True, width=120,
                     default_flow_style=False)


def write(readme_path: Path, slug: str, folder: Path, code: list[Path] | None = None, force: bool = False) -> Written:
    """Draft and write `folder` (`_source.yaml`, `_base.yaml`, one spec per model)."""
    d = draft(readme_path, code)
    if folder.exists() and any(folder.iterdir()) and not force:
        raise FileExistsError(f"{folder} exists and is not empty (use --force to overwrite)")
    folder.mkdir(parents=True, exist_ok=True)
    source = {"file": readme_path.name, "title": f"Draft of {slug} (drafted from {readme_path.name}; retitle)",
              "constraint": d.constraint, "sha256": sha256_of(readme_path)}
    files = [folder / "_source.yaml"]
    files[0].write_text(f"# drafted by `python -m harness new` from {_yaml_comment(readme_path.name)}\n" + dump(source),
                        encoding="utf-8")
    for name, spec in d.specs.items():
        path = folder / f"{name}.yaml"
        path.write_text(dump(spec), encoding="utf-8")
        files.append(path)
    return Written(d, folder, files)


def _yaml_comment(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


def escape(text: str) -> str:
    """Untrusted text for the terminal: control and other non-printable characters shown as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
