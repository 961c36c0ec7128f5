"""The core install (English labeler) without the extras: its commands run with torch, transformers, datasets,
jieba ... unimportable, and the commands that need an extra stop with one line naming it."""

import csv
import os
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

from cxrlabel.extras import EXTRA_MODULES, missing_extra

ROOT = Path(__file__).resolve().parents[1]
BLOCKED = sorted({module for modules in EXTRA_MODULES.values() for module in modules} | {"stanza"})
BLOCKER = f'''
import importlib.metadata
import sys

BLOCKED = {BLOCKED!r}


class BlockExtras:
    """Refuse the modules of the extras, as if only the core install were there."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: not in the core install)", name=name)
        return None


def core_entry_points(**params):
    """Hide the entry points of the blocked packages too (spaCy loads every spacy_* entry point)."""
    points = importlib.metadata.EntryPoints(
        point for distribution in importlib.metadata.distributions() for point in distribution.entry_points
        if point.module.split(".")[0] not in BLOCKED)
    return points.select(**params) if params else points


sys.meta_path.insert(0, BlockExtras())
importlib.metadata.entry_points = core_entry_points
'''


@pytest.fixture(scope="module")
def core_env(tmp_path_factory):
    """Environment whose Python cannot import the modules of any extra (a sitecustomize on PYTHONPATH)."""
    folder = tmp_path_factory.mktemp("core_only")
    (folder / "sitecustomize.py").write_text(BLOCKER)
    env = {key: value for key, value in os.environ.items() if not key.startswith("CXRLABEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(folder), str(ROOT)])
    return env


def run_core(env, *args, cwd=None):
    """Run python (`-c`, `-m`) or an installed console script (cxrlabel, cxrtrain) of this environment."""
    program = [sys.executable] if args[0].startswith("-") else [str(Path(sys.executable).with_name(args[0]))]
    return subprocess.run([*program, *args[bool(program[0] != sys.executable):]], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_blocker_blocks(core_env):
    result = run_core(core_env, "-c", "import torch")
    assert result.returncode == 1 and "blocked: not in the core install" in result.stderr


def test_cli_imports_without_extras(core_env):
    modules = "cxrlabel.cli, cxrlabel.mining, cxrlabel.validation, cxrlabel.lint, cxrlabel.registry, cxrtrain.cli"
    result = run_core(core_env, "-c", f"import {modules}")
    assert result.returncode == 0, result.stderr


def test_mine_and_lint_on_the_core_install(core_env, tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "a.txt").write_text("FINDINGS: Mild cardiomegaly. No pleural effusion.\nIMPRESSION: Cardiomegaly.\n")
    (reports / "b.txt").write_text("IMPRESSION: Small right pneumothorax. Lungs otherwise clear.\n")
    (reports / "c.txt").write_text("IMPRESSION: No acute cardiopulmonary abnormality.\n")
    out = tmp_path / "out"
    mine = run_core(core_env, "cxrlabel", "mine", str(reports), "--out", str(out))
    assert mine.returncode == 0, mine.stderr
    with open(out / "labels.csv", newline="") as handle:
        labels = {row["id"]: row for row in csv.DictReader(handle)}
    assert labels["a"]["Cardiomegaly"] == "1" and labels["a"]["Effusion"] == "0"
    assert labels["b"]["Pneumothorax"] == "1"
    assert labels["c"]["normal"] == "1"
    lint = run_core(core_env, "cxrlabel", "rules", "lint")
    assert lint.returncode == 0 and "rules: OK" in lint.stdout, lint.stderr
    zh = tmp_path / "zh.csv"
    zh.write_text("id,findings,diagnosis\n1,心影增大。,心影增大\n", encoding="utf-8")
    mine_zh = run_core(core_env, "cxrlabel", "mine", str(zh), "--lang", "zh", "--out", str(tmp_path / "zh"))
    assert mine_zh.returncode == 0, mine_zh.stderr


@pytest.mark.parametrize("command, extra", [
    (["cxrlabel", "build", "--labels", "x.csv", "--out", "ds"], "build"),
    (["cxrlabel", "cluster", "reports.csv", "--out", "clusters"], "zh"),
    (["cxrtrain", "fit", "ds", "--out", "run"], "train"),
    (["cxrtrain", "evaluate", "run"], "train"),
    (["cxrtrain", "heatmap", "run", "test"], "train"),
])
def test_command_needing_an_extra_says_which(core_env, tmp_path, command, extra):
    result = run_core(core_env, *command, cwd=tmp_path)
    assert result.returncode == 2
    name = f"{command[0]} {command[1]}"
    assert result.stderr.strip() == f'error: {name} needs the "{extra}" extra: pip install "cxrlabel[{extra}]"'
    assert result.stdout == "" and not list(tmp_path.iterdir())  # stopped before writing anything


def test_installed_here_every_extra_is_complete():
    for extra in EXTRA_MODULES:
        assert missing_extra(extra, "cmd") is None


def test_extra_modules_are_the_extras_requirements():
    """Each module the guard checks comes from a distribution that pyproject lists in that extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    distributions = packages_distributions()

    def names(requirements):
        return {Requirement(r).name.lower().replace("_", "-") for r in requirements}

    core = names(project["dependencies"])
    for extra, modules in EXTRA_MODULES.items():
        required = names(extras[extra])
        assert not required & {"torch", "transformers", "datasets"} & core
        for module in modules:
            provided_by = {d.lower().replace("_", "-") for d in distributions[module]}
            assert provided_by & required, (extra, module, provided_by)
    assert not core & {"torch", "transformers", "datasets", "jieba", "presidio-analyzer", "pydicom"}
    everything = names(extras["all"])
    assert everything == {"cxrlabel"} and set(Requirement(extras["all"][0]).extras) >= {"zh", "build", "train"}
