"""The browser page (frontend/examples/web/) in real headless Chromium, driven by Playwright.

A digits MLP, trained for a few epochs, is exported with ``web_export``
into a folder served on 127.0.0.1 beside the page and its onnxruntime-web
(``npm ci`` in the page folder).  The test picks test images on the page
(as a person would, by clicking their buttons) and reads the prediction
and the probabilities it shows; they must equal ``model.predict``'s.  It
also classifies a digit drawn on the canvas with the mouse.

Chromium is Debian's (``apt-get install -y chromium``), not Playwright's
download; when it is missing the test fails and says how to install it.
"""

from __future__ import annotations

import functools
import http.server
import os
import pathlib
import shutil
import threading

import numpy as np
import pytest

from theanine.frontend.examples import web_export

PAGE = pathlib.Path(web_export.__file__).parent / "web"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
PICKED = (0, 1, 2, 5, 7)


def _chromium() -> str:
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("no Chromium executable on PATH: install it with `apt-get install -y chromium` (as root), "
                "then `cd frontend/examples/web && npm ci`")


def _runtime() -> pathlib.Path:
    dist = PAGE / "node_modules" / "onnxruntime-web" / "dist"
    if not (dist / "ort.wasm.min.js").is_file():
        pytest.fail(f"onnxruntime-web is not installed for the page: run `cd {PAGE} && npm ci`")
    return dist


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The page, its runtime and a freshly exported model, served on 127.0.0.1; and the model."""
    from theanine.frontend.package.__main__ import train_digits

    root = tmp_path_factory.mktemp("web")
    for name in ("index.html", "app.js"):
        shutil.copy(PAGE / name, root / name)
    (root / "node_modules" / "onnxruntime-web").mkdir(parents=True)
    os.symlink(_runtime(), root / "node_modules" / "onnxruntime-web" / "dist")
    model, *_ = train_digits(epochs=3, verbose=0)
    images, labels = web_export.test_images("mlp", 12)
    web_export.write_page_data(model, root, images, labels)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html", model, images
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm",
                      ".mjs": "text/javascript"}

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def page(served):
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -e '.[test]' (or pip install playwright)")
    executable = _chromium()
    url = served[0]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--no-sandbox"])
        try:
            tab = browser.new_page()
            messages = []
            tab.on("console", lambda m: messages.append(m.text))
            tab.goto(url)
            tab.wait_for_function("document.body.dataset.ready !== undefined", timeout=60_000)
            assert tab.evaluate("document.body.dataset.ready") == "true", (
                tab.inner_text("#status"), messages)
            yield tab
        finally:
            browser.close()


def _shown_probabilities(tab) -> np.ndarray:
    values = tab.eval_on_selector_all("#probabilities td.value", "cells => cells.map(c => c.textContent)")
    return np.asarray([float(v) for v in values])


def test_picked_test_images_match_theanine(served, page):
    _, model, images = served
    expected = model.predict(images, verbose=0)
    for index in PICKED:
        page.click(f"#sample-{index}")
        page.wait_for_function(f"document.body.dataset.picked === '{index}'")
        assert int(page.inner_text("#prediction")) == int(np.argmax(expected[index]))
        np.testing.assert_allclose(_shown_probabilities(page), expected[index], atol=1e-6)  # shown to 6 digits


def test_page_probabilities_equal_theanine_to_float32(served, page):
    _, model, images = served
    got = np.asarray(page.evaluate("images => window.classify(images)", images.tolist()), dtype="float32")
    np.testing.assert_allclose(got, model.predict(images, verbose=0), rtol=1e-5, atol=1e-6)


def test_a_drawn_digit_is_classified(served, page):
    page.click("#clear")
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.15)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.85, steps=12)
    page.mouse.up()
    page.click("#classify")
    page.wait_for_function("document.querySelectorAll('#probabilities tr').length === 10")
    probabilities = _shown_probabilities(page)
    assert abs(probabilities.sum() - 1) < 1e-4
    assert int(page.inner_text("#prediction")) == int(np.argmax(probabilities))
