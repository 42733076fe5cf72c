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


def check_readme(file: str, recorded: str | None, specs, claims_dir: Path | None = None) -> ReadmeCheck:
    """One README and the specs written from it: same file (sha256), every claim's figure present."""
    path = (claims_dir or default_claims_dir()) / Path(file).name  # a file name, never a path out of the folder
    result = ReadmeCheck(path, path.is_file())
    if not result.present:
        return result
    data = path.read_bytes()
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
    """`check`'s README lines for these loaded specs, and how many READMEs failed.

    The README and its SHA256 come from the spec's `source` or its folder's `_source.yaml`.
    A missing README is reported and passes; a different README (sha256) fails; a figure that
    is not found is a warning."""
    from harness.specs import SOURCE_FILE

    groups: dict[tuple, list] = {}
    for loaded in specs:
        own, info = loaded.spec.source.sha256, loaded.source_info
        recorded = own or (info.sha256 if info else None)
        origin = loaded.path if own or info is None else loaded.path.parent / SOURCE_FILE
        groups.setdefault((loaded.spec.source.file, recorded, origin), []).append(loaded)
    lines, failures = [], 0
    for (file, recorded, origin), members in groups.items():
        result = check_readme(file, recorded, members, claims_dir)
        if not result.present:
            lines.append(f"{_short(origin)}: README {file} not found in {result.readme.parent}: "
                         "its figures were not checked")
        elif result.sha_ok is False:
            lines.append(f"{_short(origin)}: sha256: {result.readme} is not the README these specs were written "
                         "from (its SHA256 differs)")
            failures += 1
        else:
            lines.extend(f"warning: {w}" for w in result.warnings)
            if not recorded:
                lines.append(f"{_short(origin)}: no sha256 recorded; the README's is {sha256_of(result.readme)}")
    return lines, failures
