"""harness.data: IDX parsing, gzip and raw files, verification, and clear errors on missing or damaged data.

Synthetic IDX files stand in for MNIST: `harness.data.FILES` is monkeypatched with their small
shapes and their own SHA256 values, so the parse and verification paths run without the real
data. The tests at the end use the real files and skip when MNIST_ROOT is unset.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
from pathlib import Path

import pytest
import torch

import harness.data as data
from harness.data import DataError, load_file, load_mnist, resolve_root

IMAGES, LABELS = 0x803, 0x801
TRAIN_N, TEST_N = 12, 5
NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_bytes(magic: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    """An IDX file: big-endian magic, one big-endian uint32 per dimension, then the bytes."""
    return struct.pack(f">I{len(shape)}I", magic, *shape) + payload


def synthetic_files(seed: int = 0) -> dict[str, tuple[bytes, int, tuple[int, ...]]]:
    """name -> (decompressed IDX bytes, magic, shape) of a tiny, deterministic MNIST."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for prefix, n in (("train", TRAIN_N), ("t10k", TEST_N)):
        images = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
        labels = torch.randint(0, 10, (n,), generator=g, dtype=torch.uint8)
        out[f"{prefix}-images-idx3-ubyte"] = (idx_bytes(IMAGES, (n, 28, 28), images.numpy().tobytes()), IMAGES, (n, 28, 28))
        out[f"{prefix}-labels-idx1-ubyte"] = (idx_bytes(LABELS, (n,), labels.numpy().tobytes()), LABELS, (n,))
    return out


@pytest.fixture
def synthetic(monkeypatch):
    """The synthetic files' contents; harness.data.FILES now expects exactly these (shape and SHA256)."""
    files = synthetic_files()
    monkeypatch.setattr(data, "FILES", {name: (hashlib.sha256(raw).hexdigest(), magic, shape)
                                        for name, (raw, magic, shape) in files.items()})
    return files


def write(root: Path, files, gz: set[str] | bool = True) -> Path:
    """Write the files into root, gzip-compressed where `gz` says so."""
    root.mkdir(parents=True, exist_ok=True)
    for name, (raw, _, _) in files.items():
        compressed = gz if isinstance(gz, bool) else name in gz
        if compressed:
            (root / f"{name}.gz").write_bytes(gzip.compress(raw, mtime=0))
        else:
            (root / name).write_bytes(raw)
    return root


def expected_tensor(raw: bytes, shape) -> torch.Tensor:
    header = 4 + 4 * len(shape)
    return torch.tensor(list(raw[header:]), dtype=torch.uint8).reshape(shape)


def bump_mtime(path: Path) -> None:
    """Give a rewritten file a distinct mtime, so no cache can mistake it for the old one."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))


# --------------------------------------------------------------------------- parsing

@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_load_file_parses_gzip_and_raw(tmp_path, synthetic, gz):
    root = write(tmp_path / "mnist", synthetic, gz=gz)
    for name, (raw, _, shape) in synthetic.items():
        for verify in (True, False):
            t = load_file(root, name, verify=verify)
            assert tuple(t.shape) == shape
            if len(shape) == 1:
                assert t.dtype == torch.int64
                assert torch.equal(t, expected_tensor(raw, shape).long())
            else:
                assert t.dtype == torch.uint8
                assert torch.equal(t, expected_tensor(raw, shape))


def test_load_mnist_mixed_gzip_and_raw(tmp_path, synthetic):
    root = write(tmp_path / "mnist", synthetic, gz={"train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"})
    assert sorted(p.name for p in root.iterdir()) == sorted(
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte.gz"])
    mnist = load_mnist(root)
    assert mnist.train_images.shape == (TRAIN_N, 28, 28) and mnist.train_images.dtype == torch.uint8
    assert mnist.train_labels.shape == (TRAIN_N,) and mnist.train_labels.dtype == torch.int64
    assert mnist.test_images.shape == (TEST_N, 28, 28) and mnist.test_images.dtype == torch.uint8
    assert mnist.test_labels.shape == (TEST_N,) and mnist.test_labels.dtype == torch.int64
    assert mnist.root == root.resolve()
    raw, _, shape = synthetic["t10k-images-idx3-ubyte"]
    assert torch.equal(mnist.test_images, expected_tensor(raw, shape))
    assert int(mnist.train_labels.max()) <= 9


def test_load_mnist_reads_mnist_root(tmp_path, synthetic, monkeypatch):
    root = write(tmp_path / "from-env", synthetic)
    monkeypatch.setenv(data.ENV_VAR, str(root))
    assert data.ENV_VAR == "MNIST_ROOT"
    mnist = load_mnist()
    assert mnist.root == root.resolve()
    assert mnist.train_images.shape == (TRAIN_N, 28, 28)


def test_explicit_root_wins_over_mnist_root(tmp_path, monkeypatch):
    root = tmp_path / "explicit"
    root.mkdir()
    monkeypatch.setenv("MNIST_ROOT", str(tmp_path / "does-not-exist"))
    assert resolve_root(root) == root


# --------------------------------------------------------------------------- missing data

def test_missing_file_is_named_with_how_to_provide(tmp_path, synthetic):
    root = write(tmp_path / "mnist", synthetic)
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as err:
        load_mnist(root)
    msg = str(err.value)
    assert "t10k-labels-idx1-ubyte" in msg
    assert "missing" in msg and str(root.resolve()) in msg
    assert "MNIST_ROOT" in msg and "--data-root" in msg


def test_missing_root_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_ROOT", raising=False)
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        load_mnist(missing)
    msg = str(err.value)
    assert str(missing) in msg and "does not exist" in msg
    assert "MNIST_ROOT" in msg and "--data-root" in msg


def test_root_that_is_a_file(tmp_path):
    not_a_folder = tmp_path / "mnist.tar"
    not_a_folder.write_bytes(b"x")
    with pytest.raises(DataError, match="not a folder"):
        resolve_root(not_a_folder)


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_no_root_and_no_mnist_root(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("MNIST_ROOT", raising=False)
    else:
        monkeypatch.setenv("MNIST_ROOT", value)
    with pytest.raises(DataError) as err:
        load_mnist()
    msg = str(err.value)
    assert "No MNIST data root" in msg
    assert "MNIST_ROOT" in msg and "--data-root" in msg


def test_raw_file_is_preferred_and_each_name_is_looked_up(tmp_path, synthetic):
    root = write(tmp_path / "mnist", synthetic, gz=False)
    # a broken .gz next to a good raw file is never read
    (root / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    assert load_file(root, "train-images-idx3-ubyte").shape == (TRAIN_N, 28, 28)


# --------------------------------------------------------------------------- damaged data

def test_truncated_gzip(tmp_path, synthetic):
    root = write(tmp_path / "mnist", synthetic)
    path = root / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    for verify in (True, False):
        with pytest.raises(DataError) as err:
            load_file(root, "train-images-idx3-ubyte", verify=verify)
        msg = str(err.value)
        assert str(path) in msg
        assert "truncated or corrupt" in msg
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_mnist(root)


def test_gzip_name_with_foreign_bytes(tmp_path, synthetic):
    root = write(tmp_path / "mnist", synthetic)
    path = root / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(synthetic["t10k-images-idx3-ubyte"][0])  # raw IDX bytes under a .gz name
    with pytest.raises(DataError) as err:
        load_file(root, "t10k-images-idx3-ubyte")
    assert str(path) in str(err.value) and "truncated or corrupt" in str(err.value)


def test_empty_gzip(tmp_path, synthetic):
    root = write(tmp_path / "mnist", synthetic)
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
    with pytest.raises(DataError) as err:
        load_file(root, "t10k-labels-idx1-ubyte", verify=False)
    assert "t10k-labels-idx1-ubyte" in str(err.value)


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_bit_flip_fails_sha256(tmp_path, synthetic, gz):
    root = write(tmp_path / "mnist", synthetic, gz=False)
    name = "train-images-idx3-ubyte"
    raw = bytearray(synthetic[name][0])
    raw[100] ^= 0x01  # one bit of one pixel: header, size and gzip framing all still fine
    (root / name).unlink()
    path = root / (f"{name}.gz" if gz else name)
    path.write_bytes(gzip.compress(bytes(raw), mtime=0) if gz else bytes(raw))
    with pytest.raises(DataError) as err:
        load_file(root, name)
    msg = str(err.value)
    assert "SHA256" in msg and str(path) in msg
    assert "corrupt or not canonical MNIST" in msg
    # unverified, the same bytes parse: the refusal comes from the checksum alone
    assert load_file(root, name, verify=False).shape == (TRAIN_N, 28, 28)
    with pytest.raises(DataError, match="SHA256"):
        load_mnist(root)


def test_every_single_byte_corruption_of_a_gzip_file_is_refused_or_harmless(tmp_path, synthetic):
    """Flip each byte of a small .gz in turn: DataError, or (gzip mtime/OS fields) the very same data."""
    name = "t10k-labels-idx1-ubyte"
    root = write(tmp_path / "mnist", {name: synthetic[name]})
    path = root / f"{name}.gz"
    good = path.read_bytes()
    expected = load_file(root, name)
    refused = 0
    for i in range(len(good)):
        damaged = bytearray(good)
        damaged[i] ^= 0xFF
        path.write_bytes(bytes(damaged))
        try:
            got = load_file(root, name)
        except DataError as exc:
            assert str(path) in str(exc), (i, str(exc))
            refused += 1
        else:
            assert torch.equal(got, expected), f"byte {i} flipped yet different data was returned"
    assert refused >= len(good) - 8  # only header fields gzip ignores (mtime, XFL, OS) may be flipped harmlessly


def test_wrong_size(tmp_path, synthetic):
    root = write(tmp_path / "mnist", synthetic, gz=False)
    name = "t10k-images-idx3-ubyte"
    for extra in (b"\x00", None):
        raw = synthetic[name][0]
        raw = raw + extra if extra is not None else raw[:-1]
        (root / name).write_bytes(raw)
        for verify in (True, False):
            with pytest.raises(DataError) as err:
                load_file(root, name, verify=verify)
            assert str(root / name) in str(err.value)
            assert ("SHA256" if verify else "wrong size") in str(err.value)


@pytest.mark.parametrize("header", [
    (LABELS, (TEST_N, 28, 28)),     # label magic on an image file
    (IMAGES, (TEST_N + 1, 28, 28)),  # count does not match
    (IMAGES, (TEST_N, 28, 27)),      # wrong image size
], ids=["magic", "count", "dims"])
def test_wrong_header(tmp_path, synthetic, header):
    root = write(tmp_path / "mnist", synthetic, gz=False)
    name = "t10k-images-idx3-ubyte"
    magic, shape = header
    payload = synthetic[name][0][16:]
    (root / name).write_bytes(idx_bytes(magic, shape, payload))
    with pytest.raises(DataError) as err:
        load_file(root, name, verify=False)
    msg = str(err.value)
    assert str(root / name) in msg and "IDX header" in msg
    assert f"{magic:#x}" in msg and "0x803" in msg


def test_too_short_for_a_header(tmp_path, synthetic):
    root = write(tmp_path / "mnist", synthetic, gz=True)
    name = "train-labels-idx1-ubyte"
    (root / f"{name}.gz").write_bytes(gzip.compress(b"\x00\x00\x08", mtime=0))
    with pytest.raises(DataError) as err:
        load_file(root, name, verify=False)
    assert f"{name}.gz" in str(err.value) and "too short" in str(err.value)


def test_foreign_file_with_canonical_header_fails_real_sha256(tmp_path):
    """No monkeypatching: a well-formed labels file that is not MNIST's is refused by the real checksum."""
    name = "t10k-labels-idx1-ubyte"
    sha, magic, shape = data.FILES[name]
    assert (magic, shape) == (LABELS, (10000,))
    root = tmp_path / "mnist"
    root.mkdir()
    (root / name).write_bytes(idx_bytes(magic, shape, bytes(10000)))
    assert load_file(root, name, verify=False).shape == (10000,)  # parses fine
    with pytest.raises(DataError) as err:
        load_file(root, name)
    msg = str(err.value)
    assert "SHA256" in msg and str(root / name) in msg and sha[:16] in msg


def test_damage_after_a_successful_load_is_not_hidden_by_the_cache(tmp_path, synthetic):
    root = write(tmp_path / "mnist", synthetic, gz=False)
    first = load_mnist(root)
    assert first.test_labels.shape == (TEST_N,)
    path = root / "t10k-labels-idx1-ubyte"
    raw = bytearray(path.read_bytes())
    raw[-1] = (raw[-1] + 1) % 10
    path.write_bytes(bytes(raw))
    bump_mtime(path)
    with pytest.raises(DataError, match="SHA256"):
        load_mnist(root)


# --------------------------------------------------------------------------- the real data

@pytest.fixture(scope="module")
def real_root() -> Path:
    value = os.environ.get("MNIST_ROOT")
    if not value:
        pytest.skip("MNIST_ROOT is not set (point it at the real MNIST files to run these tests)")
    root = Path(value)
    if not root.is_dir():
        pytest.skip(f"MNIST_ROOT={value} is not a folder")
    return root


def test_real_mnist_loads(real_root):
    mnist = load_mnist(real_root)
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.train_images.dtype == torch.uint8
    assert mnist.train_labels.shape == (60000,) and mnist.train_labels.dtype == torch.int64
    assert mnist.test_images.shape == (10000, 28, 28) and mnist.test_images.dtype == torch.uint8
    assert mnist.test_labels.shape == (10000,) and mnist.test_labels.dtype == torch.int64
    assert sorted(mnist.train_labels.unique().tolist()) == list(range(10))
    assert sorted(mnist.test_labels.unique().tolist()) == list(range(10))
    # MNIST's well-known class counts: 6742 ones in train, 1135 in test
    assert int((mnist.train_labels == 1).sum()) == 6742
    assert int((mnist.test_labels == 1).sum()) == 1135


def _copy_real(real_root: Path, target: Path) -> Path:
    target.mkdir()
    for name in NAMES:
        for candidate in (real_root / name, real_root / f"{name}.gz"):
            if candidate.is_file():
                shutil.copyfile(candidate, target / candidate.name)
                break
        else:
            pytest.skip(f"{name} not in MNIST_ROOT")
    return target


def test_real_mnist_with_one_flipped_byte_is_refused(real_root, tmp_path):
    root = _copy_real(real_root, tmp_path / "copy")
    name = "t10k-labels-idx1-ubyte"
    gz = root / f"{name}.gz"
    raw = bytearray(gzip.decompress(gz.read_bytes()) if gz.exists() else (root / name).read_bytes())
    gz.unlink(missing_ok=True)
    raw[5000] ^= 0x01  # a label 1 bit off: still a well-formed IDX file of the right size
    (root / name).write_bytes(bytes(raw))
    result = None
    with pytest.raises(DataError) as err:
        result = load_mnist(root)
    assert result is None
    msg = str(err.value)
    assert "SHA256" in msg and str((root / name).resolve()) in msg
    assert "MNIST_ROOT" in msg


def test_real_mnist_truncated_gzip_is_refused(real_root, tmp_path):
    root = _copy_real(real_root, tmp_path / "copy")
    name = "train-labels-idx1-ubyte"
    gz = root / f"{name}.gz"
    if not gz.exists():
        pytest.skip("MNIST_ROOT holds raw files; the truncated-gzip case needs the .gz")
    gz.write_bytes(gz.read_bytes()[:-100])
    with pytest.raises(DataError) as err:
        load_mnist(root)
    assert str(gz.resolve()) in str(err.value) and "truncated or corrupt" in str(err.value)
