"""The README's worked example of a new figure kind, added as the one new file it is:
src/trickbench/figures/kinds/ecdf.py (the empirical distribution of a final metric over each arm's
runs). The test writes that file into the package, a claim file names the kind, and the kind is
validated and drawn; nothing else was edited for it. The file is removed afterwards."""
import importlib

import pytest
import yaml

from conftest import REPO
from trickbench import config, figures

KIND = '''"""Figure kind `ecdf`: the empirical distribution of a final metric over each arm's runs."""
from __future__ import annotations

import seaborn as sns

from trickbench.figures.base import FIGURE_KINDS, _run_table, _save, use_style


@FIGURE_KINDS.register("ecdf")
def ecdf_kind(cat, cdir, spec, out) -> None:
    use_style()
    runs = _run_table(cat, cdir, spec, "ecdf")
    ax = sns.ecdfplot(data=runs, x=spec["y"][0], hue=spec.get("hue"))
    _save(ax.figure, out)
'''


@pytest.fixture
def ecdf_module():
    path = REPO / "src" / "trickbench" / "figures" / "kinds" / "ecdf.py"
    if not path.parent.is_dir():
        pytest.skip("trickbench is not run from this checkout's src/")
    path.write_text(KIND)
    importlib.invalidate_caches()
    figures.load_kinds.cache_clear()
    try:
        figures.load_kinds()
        yield path
    finally:
        path.unlink()
        figures.FIGURE_KINDS._entries.pop("ecdf", None)
        figures.load_kinds.cache_clear()


def test_a_new_figure_kind_is_its_module_alone(ecdf_module, tmp_path):
    claim = yaml.safe_load((REPO / "config" / "claims" / "dropout.yaml").read_text())
    claim["figures"] = [{"kind": "ecdf", "y": ["final_test_acc"], "hue": "p_hidden"}]
    path = tmp_path / "dropout.yaml"
    path.write_text(yaml.safe_dump(claim, allow_unicode=True))
    loaded = config.load_claim(path)                        # the schema's enum: the kinds' modules
    assert "ecdf" in figures.kind_names() and "ecdf" in figures.FIGURE_KINDS.names()
    out = tmp_path / "dropout_0.svg"
    figures.claim_figure(config.resolve(loaded, "quick"), REPO / "results", out)
    assert out.read_text().lstrip().startswith("<?xml") and out.stat().st_size > 5_000


def test_an_unknown_kind_is_refused_naming_the_known_ones(tmp_path):
    claim = yaml.safe_load((REPO / "config" / "claims" / "dropout.yaml").read_text())
    claim["figures"] = [{"kind": "ecdf", "y": ["final_test_acc"]}]
    path = tmp_path / "dropout.yaml"
    path.write_text(yaml.safe_dump(claim, allow_unicode=True))
    with pytest.raises(config.ConfigError, match="figures.0.kind: 'ecdf' is not one of .*curves"):
        config.load_claim(path)
