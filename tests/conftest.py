import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # the repository's code, also when not pip-installed


@pytest.fixture
def ctx(tmp_path_factory):
    """A training context over the session's shared data folder (digits are decoded once)."""
    root = tmp_path_factory.getbasetemp() / "data"
    return {"data_root": str(root), "cache_dir": str(root / "cache"), "device": "cpu", "threads": 1}
