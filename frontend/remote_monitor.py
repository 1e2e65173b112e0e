"""``RemoteMonitor`` (``keras.callbacks.RemoteMonitor``): post each epoch's logs to an HTTP server.

At every epoch end the callback POSTs ``{"epoch": epoch, **logs}`` to
``root + path``: as a JSON body with ``send_as_json=True``, else as a form
whose ``field`` holds the JSON text (Keras' two formats).  It uses the
standard library (``urllib.request``) rather than ``requests``, so it needs
no extra package; a server that cannot be reached gives a warning, as in
Keras, and training goes on.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import warnings

import numpy as np

from theanine.frontend.callbacks import Callback

__all__ = ["RemoteMonitor"]

TIMEOUT_S = 10.0
"""How long one post may wait for the server before it is given up (with a warning)."""


class RemoteMonitor(Callback):
    """Send the logs of each epoch to ``root + path`` (Keras 3's arguments and defaults)."""

    def __init__(self, root: str = "http://localhost:9000", path: str = "/publish/epoch/end/",
                 field: str = "data", headers: dict | None = None, send_as_json: bool = False):
        super().__init__()
        self.root, self.path, self.field = root, path, field
        self.headers, self.send_as_json = headers, bool(send_as_json)

    def payload(self, epoch: int, logs: dict | None) -> dict:
        """``{"epoch": epoch, **logs}`` with NumPy scalars made Python numbers."""
        values = {key: value.item() if isinstance(value, (np.ndarray, np.generic)) else value
                  for key, value in (logs or {}).items()}
        return {"epoch": epoch, **values}

    def on_epoch_end(self, epoch, logs=None):
        send = self.payload(epoch, logs)
        if self.send_as_json:
            body, content_type = json.dumps(send).encode(), "application/json"
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode()
            content_type = "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.root + self.path, data=body, method="POST",
                                         headers={"Content-Type": content_type, **(self.headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S):
                pass
        except urllib.error.HTTPError:  # the server answered (with an error status): as requests, no warning
            return
        except (urllib.error.URLError, OSError, ValueError):
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}", stacklevel=2)
