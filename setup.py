"""Only what pyproject.toml cannot say: a built package (wheel, `pip install .`) carries the files
trickbench reads at run time, which live outside src/ in a clone (trickbench/resources.py lists
them) and are copied to trickbench/_resources/ here. An editable install reads them in the clone."""
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

sys.path.insert(0, str(Path(__file__).parent / "src"))
from trickbench.resources import IN_CLONE  # noqa: E402  (no third-party imports there)


class BuildPyWithResources(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        root = Path(__file__).parent
        dest = Path(self.build_lib) / "trickbench" / "_resources"
        for name, where in IN_CLONE.items():
            src, out = root / where, dest / name
            if src.is_dir():
                shutil.copytree(src, out, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, out)


setup(cmdclass={"build_py": BuildPyWithResources})
