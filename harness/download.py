"""Fetch MNIST over HTTP with the standard library: `python -m harness download DIR [--mirror URL]`.

Each of the four `.gz` files is fetched from the first mirror that serves it (torchvision's public
mirrors by default), into `.<name>.gz.part`; a dropped connection is resumed with an HTTP Range
request, a few times per mirror. The file is then decompressed with a bound (the canonical size, so
a gzip bomb stops there) and its SHA256 checked against harness.data's canonical values before it is
renamed to its final name: a partial or wrong file never sits under a name the loader reads.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from harness.mnist_files import FILES, HOW_TO_PROVIDE, DataError, decompressed_size

MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
MAX_GZ_BYTES = 64 << 20   # the largest MNIST .gz is 9.9 MB; a server sending more is not serving MNIST
CHUNK = 1 << 20
ATTEMPTS = 4              # per mirror: the first request and three resumptions
TIMEOUT_S = 30.0          # one read's silence
DEADLINE_S = 900.0        # the whole download, every file, attempt and mirror: a drip never holds a run forever
MIN_RATE = 8 << 10        # bytes/s averaged since a request began, checked after GRACE_S: MNIST is 11 MB in total
GRACE_S = 20.0


class FetchError(Exception):
    """One URL failed (network, HTTP status, size or content); the next attempt or mirror is tried."""


def fetch_mnist(target: str | Path, mirrors: tuple[str, ...] | list[str] = MIRRORS, attempts: int = ATTEMPTS,
                timeout: float = TIMEOUT_S, log=None, deadline_s: float | None = None) -> Path:
    """Every MNIST file verified in `target` (those already there and intact are kept); returns `target`.
    All of it within `deadline_s` (default DEADLINE_S); a file not fetched by then fails with the rest."""
    deadline = time.monotonic() + (DEADLINE_S if deadline_s is None else deadline_s)
    target = Path(target)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the MNIST folder {target}: {exc.strerror or exc}") from None
    missing = [name for name in FILES if not _intact(target / name, name)]
    failures: dict[str, list[str]] = {}
    for name in missing:
        tried = failures.setdefault(name, [])
        for mirror in mirrors:
            url = mirror.rstrip("/") + f"/{name}.gz"
            try:
                if time.monotonic() >= deadline:
                    raise FetchError("the download's deadline passed before this file")
                _fetch_one(url, name, target, attempts, timeout, log, deadline)
                tried.clear()
                break
            except FetchError as exc:
                tried.append(f"{url}: {exc}")
        else:
            continue
    failed = {name: tried for name, tried in failures.items() if tried}
    if failed:
        lines = [f"  {name}:\n" + "\n".join(f"    {t}" for t in tried) for name, tried in failed.items()]
        raise DataError(f"could not fetch {len(failed)} MNIST file(s) into {target}; tried:\n" + "\n".join(lines)
                        + f"\nWithout the network: copy the four files (gzip or raw) into {target}, or "
                          f"{HOW_TO_PROVIDE[0].lower()}{HOW_TO_PROVIDE[1:]}")
    return target


def _intact(path: Path, name: str) -> bool:
    try:
        with open(path, "rb") as f:
            return _sha256_of(f, decompressed_size(name)) == FILES[name][0]
    except OSError:
        return False


def _sha256_of(stream, limit: int) -> str | None:
    """SHA256 of at most `limit` bytes of `stream`; None when it holds more (or fewer)."""
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(min(CHUNK, limit + 1 - size)):
        size += len(chunk)
        if size > limit:
            return None
        digest.update(chunk)
    return digest.hexdigest() if size == limit else None


def _fetch_one(url: str, name: str, target: Path, attempts: int, timeout: float, log,
               deadline: float = float("inf")) -> None:
    part = target / f".{name}.gz.part"
    last, attempt = None, 0
    for attempt in range(1, attempts + 1):
        try:
            _download(url, part, timeout, deadline)
            last = None
            break
        except FetchError as exc:
            last = exc
            if log:
                log(f"{url}: {exc}; {'resuming' if part.exists() else 'retrying'} ({attempt}/{attempts})")
            if time.monotonic() >= deadline:
                break
            if attempt < attempts:
                time.sleep(min(0.1 * 2 ** (attempt - 1), 1.0))
    if last is not None:
        part.unlink(missing_ok=True)  # this mirror's bytes: never resumed from another, never left behind
        raise FetchError(f"{last} (after {attempt} attempts)")
    final, unpacked = target / name, target / f".{name}.part"
    try:
        _decompress_verified(part, unpacked, name)
        os.replace(unpacked, final)
    finally:
        for leftover in (part, unpacked):
            leftover.unlink(missing_ok=True)
    if log:
        log(f"{final}: verified (SHA256 of the decompressed bytes)")


def _download(url: str, part: Path, timeout: float, deadline: float = float("inf")) -> None:
    """Append the rest of `url` to `part` (Range from its current size); FetchError on any failure, on the
    deadline, and on a rate below MIN_RATE once GRACE_S have passed (a drip is a failure, not a download)."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "mnist-readme-audit",
                                                   **({"Range": f"bytes={have}-"} if have else {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if have and response.status != 206:  # the server ignored the Range: start over
                have = 0
            length = response.headers.get("Content-Length")
            expected = have + int(length) if length and length.isdigit() else None
            if expected is not None and expected > MAX_GZ_BYTES:
                raise FetchError(f"{expected:,} bytes is not an MNIST file (at most {MAX_GZ_BYTES:,})")
            with open(part, "ab" if have else "wb") as out:
                size, began = have, time.monotonic()
                while chunk := response.read1(CHUNK) if hasattr(response, "read1") else response.read(CHUNK):
                    size += len(chunk)
                    if size > MAX_GZ_BYTES:
                        raise FetchError(f"more than {MAX_GZ_BYTES:,} bytes: not an MNIST file")
                    out.write(chunk)
                    now = time.monotonic()
                    if now >= deadline:
                        raise FetchError(f"deadline passed after {size:,} bytes")
                    if now - began > GRACE_S and (size - have) / (now - began) < MIN_RATE:
                        raise FetchError(f"{(size - have) / (now - began):,.0f} bytes/s, below the {MIN_RATE:,} "
                                         f"bytes/s an MNIST mirror serves")
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part is complete (or wrong, checked next)
            return
        raise FetchError(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:  # refused, reset, cut short
        raise FetchError(getattr(exc, "reason", None) or str(exc) or type(exc).__name__) from None
    if expected is not None and size < expected:
        raise FetchError(f"connection closed after {size:,} of {expected:,} bytes")


def _decompress_verified(part: Path, out_path: Path, name: str) -> None:
    sha, _, _ = FILES[name]
    limit = decompressed_size(name)
    digest, size = hashlib.sha256(), 0
    try:
        with gzip.open(part, "rb") as src, open(out_path, "wb") as out:
            while chunk := src.read(min(CHUNK, limit + 1 - size)):
                size += len(chunk)
                if size > limit:  # a bomb, or not this file: stop at the canonical size
                    raise FetchError(f"decompresses past the {limit:,} bytes of {name}: not MNIST")
                digest.update(chunk)
                out.write(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        part.unlink(missing_ok=True)
        raise FetchError(f"not a complete gzip file ({exc})") from None
    if size != limit or digest.hexdigest() != sha:
        part.unlink(missing_ok=True)
        raise FetchError(f"SHA256 of the decompressed bytes is {digest.hexdigest()[:16]}..., expected {sha[:16]}... "
                         f"({size:,} bytes): corrupt or not canonical MNIST")
