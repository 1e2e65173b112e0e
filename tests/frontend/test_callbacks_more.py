"""RemoteMonitor against a local HTTP server on 127.0.0.1 (no network needed): both of Keras'
payload formats, custom headers, and the warning when no server listens."""

import json
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from theanine.frontend import callbacks, layers, models


class _Recorder(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        type(self).received.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """A proxy set in the environment must not take the posts to 127.0.0.1."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def server():
    _Recorder.received = []
    httpd = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Recorder.received
    httpd.shutdown()
    httpd.server_close()


def _fit(callback, epochs=2):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 2)).astype("float32")
    model = models.Sequential([layers.Input((2,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model.fit(x, x[:, :1], epochs=epochs, batch_size=4, verbose=0, callbacks=[callback])


def test_remote_monitor_posts_each_epoch_as_a_form(server):
    root, received = server
    history = _fit(callbacks.RemoteMonitor(root=root, headers={"X-Run": "seven"}))
    assert [path for path, _, _ in received] == ["/publish/epoch/end/"] * 2
    for epoch, (_, headers, body) in enumerate(received):
        assert headers["X-Run"] == "seven"
        sent = json.loads(urllib.parse.parse_qs(body)["data"][0])
        assert sent == {"epoch": epoch, "loss": pytest.approx(history.history["loss"][epoch])}


def test_remote_monitor_posts_json(server):
    root, received = server
    _fit(callbacks.RemoteMonitor(root=root, path="/logs", send_as_json=True), epochs=1)
    (path, headers, body), = received
    assert path == "/logs" and headers["Content-Type"] == "application/json"
    assert set(json.loads(body)) == {"epoch", "loss"}


def test_remote_monitor_warns_when_no_server_listens():
    with socket.socket() as probe:  # a free port, closed again: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.warns(UserWarning, match=f"Could not reach RemoteMonitor root server at http://127.0.0.1:{port}"):
        _fit(callbacks.RemoteMonitor(root=f"http://127.0.0.1:{port}"), epochs=1)
