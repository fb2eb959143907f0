"""Fixtures shared by the test files: a loopback Hugging Face Hub, and a fresh Hugging Face home for every test (no
test reads or writes the user's cache or token)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.constants
import pytest
from loopback_hub import LoopbackHub


@pytest.fixture(scope="module")
def hub() -> Iterator[LoopbackHub]:
    server = LoopbackHub()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh Hugging Face home and cache for each test (no token, nothing cached)."""
    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HOME", str(home))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return home
