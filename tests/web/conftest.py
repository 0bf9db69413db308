"""Fixtures of the explorer tests: an in-process client, a real ``convwise serve``, a browser."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def digits_npz(tmp_path_factory) -> pathlib.Path:
    """A small trained ``convwise train digits`` model (accuracy does not matter here)."""
    from convwise.train import train_digits

    path = tmp_path_factory.mktemp("models") / "digits.npz"
    train_digits(epochs=1, limit=300, progress=False, out=path)
    return path


@pytest.fixture(scope="session")
def client(digits_npz):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from fastapi.testclient import TestClient

    from convwise.web import create_app

    return TestClient(create_app([digits_npz]), raise_server_exceptions=False)


@pytest.fixture(scope="session")
def server(digits_npz):
    """A real ``convwise serve --port 0`` process; yields its base URL."""
    import convwise

    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(convwise.__file__)))
    process = subprocess.Popen([sys.executable, "-m", "convwise", "serve", "--port", "0", "--model", str(digits_npz)],
                               env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and process.poll() is None:
            line = process.stderr.readline()
            if "explorer on" in line:
                break
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        if not match:
            pytest.fail(f"convwise serve did not start: {line!r} (exit {process.poll()})")
        yield match.group(1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM) or shutil.which(CHROMIUM) is None:
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the playwright Python package")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    """A fresh page; console errors fail the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.base = server
    yield page
    context.close()
    # 422 answers are how bad parameters are reported; the browser logs them as failed loads
    real = [e for e in errors if "status of 422" not in e]
    assert not real, real


@pytest.fixture
def shot():
    """``shot(page, name)`` saves a screenshot as a test artifact (test-artifacts/, git-ignored)."""

    def save(page, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    return save
