"""`python -m harness download` and the cache folder's MNIST: a loopback HTTP server stands in for the mirrors.

It serves MNIST_ROOT's .gz files (tests skip without it), honours HTTP Range like S3 does, and can
serve a corrupt file, drop the connection half way through a file, or serve a gzip bomb.
"""

from __future__ import annotations

import gzip
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from _support import ROOT

import harness.data as data
from harness.data import FILES, DataError, load_file
from harness.download import fetch_mnist

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)

needs_mnist = pytest.mark.skipif(not os.environ.get("MNIST_ROOT"), reason="needs MNIST_ROOT (the files to serve)")


class Mirror(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, folder: Path, corrupt=(), drop=(), bomb=()):
        super().__init__(("127.0.0.1", 0), Handler)
        self.folder, self.corrupt, self.drop, self.bomb = folder, set(corrupt), set(drop), set(bomb)
        self.requests: list[tuple[str, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 (http.server's name)
        server: Mirror = self.server
        name = self.path.lstrip("/")
        server.requests.append((name, self.headers.get("Range")))
        path = server.folder / name
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        if name in server.corrupt:
            body = gzip.compress(gzip.decompress(body)[:-1] + b"\x01", mtime=0)  # one byte changed, valid gzip
        if name in server.bomb:
            body = gzip.compress(b"\0" * (64 << 20), compresslevel=1)  # 64 MiB of zeros in ~ 300 KB
        start = int(self.headers["Range"].split("=")[1].split("-")[0]) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if name in server.drop:
            server.drop.discard(name)  # the first response stops half way; the resumed one completes
            self.wfile.write(body[start:start + (len(body) - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body[start:])


@pytest.fixture
def mirror():
    servers = []

    def start(**faults) -> Mirror:
        server = Mirror(Path(os.environ["MNIST_ROOT"]), **faults)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def final_names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@needs_mnist
def test_download_fetches_and_verifies_the_four_files(tmp_path, mirror):
    server = mirror()
    target = tmp_path / "mnist"
    result = subprocess.run([sys.executable, "-m", "harness", "download", str(target), "--mirror", server.url],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert final_names(target) == set(FILES)  # decompressed, verified, nothing partial left
    assert data.load_mnist(target).train_images.shape == (60000, 28, 28)
    again = len(server.requests)
    fetch_mnist(target, (server.url,))
    assert len(server.requests) == again  # intact files are not fetched twice


@needs_mnist
def test_a_dropped_connection_is_resumed_with_a_range_request(tmp_path, mirror):
    name = "train-images-idx3-ubyte.gz"
    server = mirror(drop={name})
    fetch_mnist(tmp_path, (server.url,))
    ranges = [r for n, r in server.requests if n == name]
    assert ranges[0] is None and ranges[1] and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    assert final_names(tmp_path) == set(FILES)


@needs_mnist
def test_a_corrupt_file_is_refused_then_the_next_mirror_serves_it(tmp_path, mirror):
    name = "t10k-labels-idx1-ubyte"
    bad, good = mirror(corrupt={f"{name}.gz"}), mirror()
    with pytest.raises(DataError) as err:
        fetch_mnist(tmp_path / "only-bad", (bad.url,), attempts=1)
    assert f"{name}:" in str(err.value) and "SHA256" in str(err.value) and bad.url in str(err.value)
    assert name not in final_names(tmp_path / "only-bad")  # never under its final name
    assert not [n for n in final_names(tmp_path / "only-bad") if n.endswith(".part")]
    fetch_mnist(tmp_path / "both", (bad.url, good.url), attempts=1)
    assert final_names(tmp_path / "both") == set(FILES)


@needs_mnist
def test_a_gzip_bomb_stops_at_the_expected_size(tmp_path, mirror):
    name = "t10k-labels-idx1-ubyte"
    server = mirror(bomb={f"{name}.gz"})
    with pytest.raises(DataError, match="decompresses past the 10,008 bytes"):
        fetch_mnist(tmp_path, (server.url,), attempts=1)
    assert name not in final_names(tmp_path)


def test_a_gzip_bomb_in_the_data_root_is_read_only_to_its_expected_size(tmp_path):
    import tracemalloc

    name = "t10k-labels-idx1-ubyte"
    (tmp_path / f"{name}.gz").write_bytes(gzip.compress(b"\0" * (256 << 20), compresslevel=1))
    tracemalloc.start()
    try:
        with pytest.raises(DataError):
            load_file(tmp_path, name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20  # 256 MiB decompressed if it were read whole


def test_offline_says_which_files_which_mirrors_and_how_to_provide_them(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_ROOT", raising=False)
    monkeypatch.setenv("AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("harness.download.MIRRORS", ("http://127.0.0.1:9/",))  # nothing listens on port 9
    monkeypatch.setattr(fetch_mnist, "__defaults__", (("http://127.0.0.1:9/",), 1, 5.0, None, None))
    with pytest.raises(DataError) as err:
        data.load_mnist(fetch=True)  # neither --data-root nor MNIST_ROOT: the cache folder's copy
    message = str(err.value)
    assert str(tmp_path / "cache" / "mnist") in message
    assert all(f"{name}:" in message for name in FILES) and "http://127.0.0.1:9/" in message
    assert "MNIST_ROOT" in message and "--data-root" in message


@needs_mnist
def test_without_a_root_the_cache_folder_copy_is_fetched_once(tmp_path, monkeypatch, mirror):
    server = mirror()
    monkeypatch.delenv("MNIST_ROOT", raising=False)
    monkeypatch.setenv("AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(fetch_mnist, "__defaults__", ((server.url,), 1, 30.0, None, None))
    assert data.load_mnist(fetch=True).root == (tmp_path / "cache" / "mnist").resolve()
    fetched = len(server.requests)
    data.load_mnist(fetch=True)
    assert fetched == len(FILES) and len(server.requests) == fetched


def test_unwritable_results_and_cache_folders_are_messages_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    from _support import write_tiny_specs

    spec = write_tiny_specs(tmp_path / "specs" / "tiny") / "alpha.yaml"
    for option in ("--results", "--audit-cache"):
        other = "--audit-cache" if option == "--results" else "--results"
        result = subprocess.run([sys.executable, "-m", "harness", "run", str(spec), option, str(blocker / "sub"),
                                 other, str(tmp_path / "ok"), "--data-root", str(tmp_path / "no-data")],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and "is not a writable folder" in result.stderr
        assert str(blocker / "sub") in result.stderr


def test_an_unreadable_data_folder_is_a_message(tmp_path, monkeypatch):
    folder = tmp_path / "mnist"
    folder.mkdir()

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", denied)  # as a folder without read permission (root ignores chmod)
    with pytest.raises(DataError, match="cannot be read: Permission denied"):
        data.load_mnist(folder)


class Drip(http.server.ThreadingHTTPServer):
    """A hostile mirror: promises a 9 MB file and sends one byte every 20 ms (a bounded 3,000 of them)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), DripHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class DripHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 (http.server's name)
        import time

        self.send_response(200)
        self.send_header("Content-Length", str(9_000_000))
        self.end_headers()
        try:
            for _ in range(3000):
                self.wfile.write(b"\x1f")
                self.wfile.flush()
                time.sleep(0.02)
        except OSError:  # the client gave up: what the test expects
            pass


@pytest.fixture
def drip():
    server = Drip()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.mark.parametrize("bound", ["rate", "deadline"])
def test_a_dripping_mirror_fails_on_its_rate_or_the_deadline_and_leaves_no_part_files(tmp_path, drip, monkeypatch,
                                                                                      bound):
    import harness.download as download

    monkeypatch.setattr(download, "GRACE_S", 0.3 if bound == "rate" else 1e9)
    monkeypatch.setattr(download, "MIN_RATE", 1000 if bound == "rate" else 0)
    with pytest.raises(DataError) as err:
        fetch_mnist(tmp_path / "mnist", (drip.url,), attempts=2, timeout=5, deadline_s=60 if bound == "rate" else 0.5)
    assert ("bytes/s" if bound == "rate" else "deadline") in str(err.value)
    assert list((tmp_path / "mnist").iterdir()) == []  # no .part file of any of the four
