"""The Airflow image (``Dockerfile``) runs every model: what its pip steps install covers every
trainer's packages (torch's CPU build included), the install is checked (``pip check``), the
Python is the lock's, and the build context leaves out the venv, local state and secrets.
No container engine runs here: the file is read, and what it installs is resolved against
the installed distributions' own metadata."""

from __future__ import annotations

import importlib.metadata
import re
import shlex
from pathlib import Path

import pathspec
import pytest
from packaging.requirements import Requirement

from pipelines.training.pyfunc import ALGORITHM_PACKAGES, MODEL_PACKAGES
from tests.conftest import ROOT
from tests.deploy.test_training_image import normalize, pins

pytestmark = pytest.mark.unit
DOCKERFILE = ROOT / "Dockerfile"
TRAINING_DOCKERFILE = ROOT / "include" / "training-image" / "Dockerfile"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def run_steps(dockerfile: str) -> list[str]:
    """Each RUN instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    return [line[4:] for line in joined.splitlines() if line.startswith("RUN ")]


def pip_installs(dockerfile: str) -> list[list[str]]:
    """The arguments of every ``pip install`` in the RUN steps."""
    installs = []
    for step in run_steps(dockerfile):
        for command in step.split("&&"):
            words = shlex.split(command)
            if words[:2] == ["pip", "install"]:
                installs.append(words[2:])
    return installs


def requirement_files(args: list[str]) -> list[Path]:
    """The ``-r`` files of one pip install, as files of the repository."""
    named = [args[i + 1] for i, arg in enumerate(args) if arg == "-r"]
    return [ROOT / Path(name).name for name in named]


def installed_closure(roots: set[str]) -> set[str]:
    """``roots`` and everything they require (no extras), by the distributions' metadata."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = normalize(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def image_packages(dockerfile: str) -> set[str]:
    roots: set[str] = set()
    for args in pip_installs(dockerfile):
        for path in requirement_files(args):
            roots |= set(pins_or_names(path))
    return installed_closure(roots)


def pins_or_names(path: Path) -> set[str]:
    """The distributions a requirements file asks for, pinned or not."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(normalize(Requirement(line).name))
    return names


def trainer_packages() -> set[str]:
    lists = [MODEL_PACKAGES, *ALGORITHM_PACKAGES.values()]
    return {normalize(name) for names in lists for name in names}


def test_the_image_installs_every_package_a_trained_model_needs():
    installed = image_packages(DOCKERFILE.read_text())
    assert "apache-airflow" in installed
    assert trainer_packages() - installed == set()


def test_the_check_catches_an_image_without_torch():
    without_torch = DOCKERFILE.read_text().replace("-r /opt/mlops/requirements-torch.txt", "")
    assert "torch" in trainer_packages() - image_packages(without_torch)


def test_torch_comes_from_pytorchs_cpu_index_as_the_lock_pins_it():
    assert pins(ROOT / "constraints.txt")["torch"].endswith("+cpu")
    (with_torch,) = [a for a in pip_installs(DOCKERFILE.read_text()) if "-r" in a]
    assert "--extra-index-url" in with_torch
    assert with_torch[with_torch.index("--extra-index-url") + 1] == CPU_INDEX
    assert "-c" in with_torch and with_torch[with_torch.index("-c") + 1].endswith("constraints.txt")


def test_every_pip_install_is_followed_by_pip_check():
    for path in (DOCKERFILE, TRAINING_DOCKERFILE):
        for step in run_steps(path.read_text()):
            if "pip install" in step:
                assert re.search(r"pip install.*&& pip check", step), (path.name, step)


def test_both_images_assert_the_python_of_the_lock():
    locked = re.search(
        r'^python_version = "(\d+)\.(\d+)"$', (ROOT / "pyproject.toml").read_text(), re.M
    )
    check = f"sys.version_info[:2] == ({locked[1]}, {locked[2]})"
    for path in (DOCKERFILE, TRAINING_DOCKERFILE):
        assert check in path.read_text(), path.name


def context_ignored() -> pathspec.PathSpec:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return pathspec.PathSpec.from_lines("gitwildmatch", lines)


def test_the_build_context_leaves_out_the_venv_state_and_secrets():
    ignored = context_ignored()
    for path in (".venv/lib/torch/x.so", ".state/lake/raw/a.parquet", ".env", ".git/HEAD"):
        assert ignored.match_file(path), path
    assert not ignored.match_file(".env.example")


def test_what_the_images_copy_is_in_the_build_context():
    ignored = context_ignored()
    for path in (DOCKERFILE, TRAINING_DOCKERFILE):
        for line in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", path.read_text(), re.M):
            for source in line.split():
                assert (ROOT / source).exists(), (path.name, source)
                assert not ignored.match_file(source), (path.name, source)


def test_the_image_bakes_the_dags_and_specs_it_runs():
    dockerfile = DOCKERFILE.read_text()
    assert re.search(r"^COPY .* dags /opt/airflow/dags$", dockerfile, re.M)
    assert re.search(r"^COPY .* include /opt/airflow/include$", dockerfile, re.M)
    assert "ENV MLOPS_MODELS_DIR=/opt/airflow/include/models" in dockerfile
