"""Model specs: the shipped ones load; every kind of bad spec fails with file and field named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.core.errors import SpecError
from pipelines.core.spec import load_spec, load_specs
from tests.conftest import MODELS, ROOT

pytestmark = pytest.mark.unit


def write_spec(folder: Path, name: str, data: dict) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def flight_data() -> dict:
    return yaml.safe_load((MODELS / "flight_delay.yaml").read_text())


def test_shipped_specs_load_and_cover_two_task_types():
    good, bad = load_specs(MODELS)
    assert bad == {}
    assert {"flight_delay", "synthetic_demand"} <= set(good)
    assert {spec.label.task for spec in good.values()} == {"binary", "regression"}


def test_spec_is_immutable(flight_spec):
    with pytest.raises(Exception, match="frozen"):
        flight_spec.name = "other"


def mutate(data: dict, path: str, value: object) -> dict:
    """Set ``a.b[2].c`` style paths in a nested dict; ``value=...`` (Ellipsis) deletes."""
    parts = path.replace("]", "").replace("[", ".").split(".")
    node = data
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    key = int(last) if last.isdigit() else last
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("colour", "blue", "colour: unknown field"),
        ("training.window_dayz", 3, "training.window_dayz: unknown field"),
        ("training.window_days", "many", "training.window_days: Input should be a valid integer"),
        ("label", ..., "label: Field required"),
        ("training.algorithm", "xgboost_magic", "training.algorithm: Input should be 'lightgbm'"),
        ("features[3].type", "text", "features[3].type: Input should be 'numeric'"),
        ("features[1].name", "carrier", "features[1].name: duplicate feature 'carrier'"),
        ("features[2].name", "is_late", "features[2].name: feature 'is_late' is the label"),
        ("features[4].name", "dep_delay", "features[4].name: 'dep_delay' is only known after"),
        ("features[5].name", "arr_time", "features[5].name: 'arr_time' is only known after"),
        ("features[0].name", "flight_id", "features[0].name: 'flight_id' is the entity_key"),
        ("schedules.training", "every night", "schedules.training: not a valid cron"),
        ("gates.metric", "rmse", "gates.metric: 'rmse' is for regression models"),
        ("slices[0]", "tailnum", "slices[0]: 'tailnum' is not a declared feature"),
        ("execution.mode", "kubernetes", "execution: execution.mode 'kubernetes' needs"),
        ("source.kind", "ftp", "source: Input tag 'ftp' found using 'kind' does not match"),
        ("retries", {"count": 11}, "retries.count: Input should be less than or equal to 10"),
        ("retries", {"delay_seconds": 0}, "retries.delay_seconds: Input should be greater"),
    ],
)
def test_bad_spec_names_file_and_field(tmp_path, path, value, expected):
    spec_file = write_spec(tmp_path, "flight_delay", mutate(flight_data(), path, value))
    with pytest.raises(SpecError) as caught:
        load_spec(spec_file)
    message = str(caught.value)
    assert message.startswith(f"{spec_file}: ")
    assert expected in message


def test_all_problems_are_reported_at_once(tmp_path):
    data = mutate(flight_data(), "colour", "blue")
    data = mutate(data, "training.window_days", -1)
    spec_file = write_spec(tmp_path, "flight_delay", data)
    with pytest.raises(SpecError) as caught:
        load_spec(spec_file)
    assert "colour" in str(caught.value)
    assert "training.window_days" in str(caught.value)


def test_synthetic_options_are_typed(tmp_path):
    data = yaml.safe_load((MODELS / "synthetic_demand.yaml").read_text())
    data["source"]["options"]["drift"] = [{"kind": "earthquake", "start": "2013-01-05"}]
    spec_file = write_spec(tmp_path, "synthetic_demand", data)
    with pytest.raises(SpecError, match=r"source\.options\.drift\[0\]\.kind: Input should be"):
        load_spec(spec_file)


def test_file_name_must_match_model_name(tmp_path):
    spec_file = write_spec(tmp_path, "other_name", flight_data())
    with pytest.raises(SpecError, match="must match the file name 'other_name'"):
        load_spec(spec_file)


def test_invalid_yaml_and_non_mapping_are_clear(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match=f"{broken}: not valid YAML"):
        load_spec(broken)
    listed = tmp_path / "listed.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(SpecError, match="expected a mapping of fields, got list"):
        load_spec(listed)


def test_yaml_is_loaded_safely(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(evil)


def test_one_bad_spec_never_hides_the_others(tmp_path):
    write_spec(tmp_path, "flight_delay", flight_data())
    write_spec(tmp_path, "broken", {"name": "broken"})
    good, bad = load_specs(tmp_path)
    assert list(good) == ["flight_delay"]
    assert list(bad) == [str(tmp_path / "broken.yaml")]
    assert "owner: Field required" in str(bad[str(tmp_path / "broken.yaml")])


def test_fingerprint_changes_with_content(flight_spec, tmp_path):
    data = mutate(flight_data(), "training.window_days", 7)
    changed = load_spec(write_spec(tmp_path, "flight_delay", data))
    assert changed.fingerprint() != flight_spec.fingerprint()
    assert load_spec(MODELS / "flight_delay.yaml").fingerprint() == flight_spec.fingerprint()


def gpu_data() -> dict:
    return yaml.safe_load((ROOT / "include" / "examples" / "flight_delay_gpu.yaml").read_text())


def test_the_gpu_example_loads_with_its_pool_and_tolerations(tmp_path):
    spec = load_spec(write_spec(tmp_path, "flight_delay_gpu", gpu_data()))
    execution = spec.execution
    assert (execution.mode, execution.resources.gpu) == ("kubernetes", 1)
    assert (execution.pool_name, execution.pool_slots) == ("gpu", 1)
    assert [t.key for t in execution.effective_tolerations] == ["nvidia.com/gpu"]


def test_gpu_pods_tolerate_the_gpu_taint_by_default_and_take_a_slot_per_gpu(tmp_path):
    data = mutate(gpu_data(), "execution.tolerations", ...)
    data = mutate(data, "execution.pool", ...)
    data = mutate(data, "execution.resources.gpu", 4)
    execution = load_spec(write_spec(tmp_path, "flight_delay_gpu", data)).execution
    assert [(t.key, t.effect) for t in execution.effective_tolerations] == [
        ("nvidia.com/gpu", "NoSchedule")
    ]
    assert (execution.pool_name, execution.pool_slots) == ("gpu", 4)
    cpu_only = mutate(data, "execution.resources.gpu", 0)
    execution = load_spec(write_spec(tmp_path, "flight_delay_gpu", cpu_only)).execution
    assert (execution.effective_tolerations, execution.pool_name) == ([], "default_pool")


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("execution.env", {"AWS_SECRET_ACCESS_KEY": "abc"}, "AWS_SECRET_ACCESS_KEY look like"),
        ("execution.env", {"MLFLOW_TRACKING_TOKEN": "t"}, "reference a Kubernetes Secret"),
        ("execution.env", {"1BAD": "x"}, "execution.env.1BAD.[key]: String should match"),
        ("execution.secret_env", {"X": {"secret": "Bad_Name", "key": "k"}}, "secret_env.X.secret"),
        ("execution.resources.memory", "16GB", "execution.resources.memory: String should match"),
        ("execution.resources.gpu", 17, "execution.resources.gpu: Input should be less than"),
        ("execution.namespace", "ML_Ops", "execution.namespace: String should match"),
        ("execution.labels", {"team": "ml platform"}, "execution.labels.team: String should"),
        ("execution.tolerations", [{"key": "k", "value": "v"}], "value with operator 'Equal'"),
        ("execution.on_finish", "keep", "execution.on_finish: Input should be 'delete_pod'"),
        ("execution.schedule_timeout_minutes", 0, "schedule_timeout_minutes: Input should be"),
        ("execution.image", ..., "execution: execution.mode 'kubernetes' needs"),
    ],
)
def test_bad_execution_settings_are_refused_with_the_field(tmp_path, path, value, expected):
    spec_file = write_spec(tmp_path, "flight_delay_gpu", mutate(gpu_data(), path, value))
    with pytest.raises(SpecError) as caught:
        load_spec(spec_file)
    assert expected in str(caught.value)
