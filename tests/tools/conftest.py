"""Fixtures for tests against the real consumers of our cookie formats: yt-dlp and Playwright
with Debian's Chromium. A missing tool makes these tests FAIL (never skip): CI installs them
(PyPI: yt-dlp, playwright; Debian: chromium, see deploy/apt-packages.txt)."""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _require_module(name: str, pip_name: str):
    try:
        return __import__(name)
    except ImportError as error:
        pytest.fail(
            f"{pip_name} is not installed ({error}); these tests need the real tool: "
            f"pip install {pip_name}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def yt_dlp():
    module = _require_module("yt_dlp", "yt-dlp")
    import yt_dlp.cookies  # noqa: F401  (the jar class lives there)

    return module


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium; CREDSVC_CHROMIUM overrides the path. Playwright never downloads one."""
    path = os.environ.get("CREDSVC_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail(
            f"Chromium not found at {path}: apt-get install chromium (listed in "
            "deploy/apt-packages.txt) or set CREDSVC_CHROMIUM",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def sync_playwright():
    _require_module("playwright", "playwright")
    from playwright.sync_api import sync_playwright

    return sync_playwright


@pytest.fixture(scope="session")
def chromium_args() -> list[str]:
    return list(CHROMIUM_ARGS)
