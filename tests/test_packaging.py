"""A built wheel carries the Hydra configs and the shipped data, and works without the
repository: ``rnnlab-train`` and ``rnnlab-eval`` find ``conf/`` inside the package."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from rnnlab.data.readers import SHIPPED
from rnnlab.run.config import CONF_DIR

ROOT = Path(__file__).resolve().parents[1]

# Run from the unpacked wheel, in a folder without conf/ or data/: compose the entry config,
# load a shipped data set, and say where both came from.
PROBE = """
import rnnlab, rnnlab.run.config as c
from rnnlab.run.build import build_data
cfg = c.compose_config("run", ["data=digits"])
dm = build_data(cfg.data)
print(rnnlab.__file__, c.CONF_DIR, len(dm.sets["test"]), sep="\\n")
"""


def test_a_built_wheel_has_every_config_and_shipped_file_and_runs_without_the_repo(tmp_path):
    source = tmp_path / "source"  # a copy: the build leaves nothing in the repository
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", str(tmp_path / "dist")],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("rnnlab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    package = CONF_DIR.parent
    configs = {
        p.relative_to(package.parent).as_posix()
        for p in CONF_DIR.rglob("*.yaml")
        if p.parent.name != "local"  # a machine's own settings stay out
    }
    shipped = {p.relative_to(package.parent).as_posix() for p in SHIPPED.iterdir()}
    assert len(configs) > 40 and "rnnlab/conf/train.yaml" in configs
    assert configs <= names and shipped <= names
    assert not any(n.startswith("rnnlab/conf/local/") and n.endswith(".yaml") for n in names)

    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    work = tmp_path / "elsewhere"
    work.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=work, env={"PYTHONPATH": str(unpacked)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    module, conf_dir, n_test = out.stdout.split()
    assert Path(module).is_relative_to(unpacked) and Path(conf_dir).is_relative_to(unpacked)
    assert int(n_test) > 300  # the digits' test split, read from the wheel's own files
