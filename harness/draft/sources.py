"""Specs keep their README at hand: where it lives, that it is the same file, that its figures are there.

`source.file` resolves against the claims folder: `--claims-dir`, else `$AUDIT_CLAIMS_DIR`,
else `../shared/claims` next to the project. `_source.yaml` records the README's SHA256;
`python -m harness check` compares it and looks every claim's figure up in the README (in
the line its `where` names, when it names one). A missing README is said and passes.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


def default_claims_dir() -> Path:
    env = os.environ.get("AUDIT_CLAIMS_DIR")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "claims"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def figure_pattern(value: float) -> re.Pattern:
    """The ways a README may write `value`: 19056 as 19,056 or 19056; 99.4 as 99.4, 99.40 or 99.400."""
    if float(value).is_integer() and abs(value) >= 1000:
        n = int(value)
        grouped = f"{n:,}".replace(",", r",?")
        return re.compile(rf"(?<![\d.,]){grouped}(?![\d]|,\d)")
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    whole, _, frac = text.partition(".")
    tail = rf"\.{frac}0*" if frac else r"(?:\.0+)?"
    return re.compile(rf"(?<![\d.]){whole}{tail}(?![\d])")


def claim_figures(claim) -> list[tuple[str, float]]:
    """(label, figure) of a claim that the README must contain: values, target bounds, curve points."""
    out = []
    kind = claim.kind
    if kind == "first_epoch_reaching":
        return [("threshold", claim.threshold)]
    if kind == "qualitative" or kind == "comparison":
        return []
    value = getattr(claim, "value", None)
    if isinstance(value, (int, float)):
        out.append(("value", value))
    band = getattr(claim, "band", None)
    if band and value is None and kind.startswith(("test_accuracy", "train_accuracy")):  # a target, not a judgement band
        out.extend(("band", b) for b in band if b not in (0, 100))
    for i, v in enumerate(getattr(claim, "values", None) or [], start=1):
        if v is not None:
            out.append((f"values[epoch {i}]", v))
    return out


@dataclass
class ReadmeCheck:
    readme: Path
    present: bool
    sha_ok: bool | None = None
    warnings: list[str] = field(default_factory=list)


def check_figures(text: str, spec_file: Path, claims) -> list[str]:
    lines = text.splitlines()
    warnings = []
    for claim in claims:
        m = re.search(r"\bline (\d+)\b", claim.where)
        wanted = [int(n) for n in re.findall(r"\bline (\d+)\b", claim.where)]
        for label, figure in claim_figures(claim):
            pattern = figure_pattern(figure)
            if not pattern.search(text):
                warnings.append(f"{spec_file}: claim {claim.claim_id}: {label} {figure:g} does not appear in the README")
            elif m and label.startswith("values["):
                continue  # a curve's points lie on many lines of one log
            elif m and not any(pattern.search(lines[n - 1]) for n in wanted if 1 <= n <= len(lines)):
                warnings.append(f"{spec_file}: claim {claim.claim_id}: {label} {figure:g} is not on line "
                                f"{', '.join(map(str, wanted))} that `where` names")
    return warnings


def check_folder(folder: Path, source_info, specs, claims_dir: Path | None = None) -> ReadmeCheck:
    """The README of one spec folder: same file (sha256), every claim's figure present."""
    claims_dir = claims_dir or default_claims_dir()
    path = claims_dir / Path(source_info.file).name
    result = ReadmeCheck(path, path.is_file())
    if not result.present:
        return result
    data = path.read_bytes()
    recorded = source_info.sha256
    if recorded:
        result.sha_ok = hashlib.sha256(data).hexdigest() == recorded
        if not result.sha_ok:
            return result
    text = data.decode("utf-8", errors="replace")
    for loaded in specs:
        result.warnings.extend(check_figures(text, _short(loaded.path), loaded.spec.claims))
    return result


def _short(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def check_readmes(specs, claims_dir: Path | None = None) -> tuple[list[str], int]:
    """`check`'s README lines for the folders of these loaded specs, and how many folders failed.

    A missing README is reported and passes; a different README (sha256) fails; a figure that
    is not found is a warning."""
    from harness.specs import SOURCE_FILE, SpecError, load_source_info

    lines, failures = [], 0
    folders: dict[Path, list] = {}
    for loaded in specs:
        folders.setdefault(loaded.path.parent, []).append(loaded)
    for folder, members in folders.items():
        if not (folder / SOURCE_FILE).is_file():
            continue
        try:
            info = load_source_info(folder)
        except SpecError as exc:
            lines.append(str(exc))
            failures += 1
            continue
        result = check_folder(folder, info, members, claims_dir)
        if not result.present:
            lines.append(f"{_short(folder)}: README {info.file} not found in {result.readme.parent}: "
                         "its figures were not checked")
        elif result.sha_ok is False:
            lines.append(f"{_short(folder / SOURCE_FILE)}: sha256: {result.readme} is not the README this folder "
                         "was written from (its SHA256 differs)")
            failures += 1
        else:
            lines.extend(f"warning: {w}" for w in result.warnings)
            if not info.sha256:  # noqa: SIM102
                lines.append(f"{_short(folder / SOURCE_FILE)}: no sha256 recorded; the README's is "
                             f"{sha256_of(result.readme)}")
    return lines, failures
