"""Config loading: the chart's keys, one-line errors naming file and key, secrets never shown."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from spillway.config import ConfigError, Secret, load_config, parse_config, require

SECRET = "sk-VERY-SECRET-value-123"
PRODUCTION_CONFIG = Path(__file__).resolve().parents[2] / "k8s" / "overlays" / "production" / "config.yaml"
VALID = f"""
cloud:
  appID: "1250000000"
  ownerUIN: "100000000001"
  secretID: AKIDexample
  secretKey: {SECRET}
  vpcID: vpc-abc
  regionShort: gz
  regionLong: ap-guangzhou
  subnets:
    - {{id: subnet-1, zone: ap-guangzhou-3}}
    - {{id: subnet-2, zone: ap-guangzhou-4}}
  apiEndpoint: http://127.0.0.1:9000
  clusterID: cls-test
eklet:
  podUsedApiserver: https://10.0.0.1:6443
nats:
  url: nats://127.0.0.1:4222
placement:
  switchPrecedence: workload
telemetry:
  healthPort: 0
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_valid_file_with_chart_keys(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID), env={})
    assert config.cloud.app_id == "1250000000"
    subnets = [(s.id, s.zone) for s in config.cloud.subnets]
    assert subnets == [("subnet-1", "ap-guangzhou-3"), ("subnet-2", "ap-guangzhou-4")]
    assert config.cloud.secret_key is not None and config.cloud.secret_key.reveal() == SECRET
    assert config.eklet.pod_used_apiserver == "https://10.0.0.1:6443"
    assert config.placement.switch_precedence == "workload"
    assert config.placement.deletion_cost == -100
    assert config.placement.excluded_namespaces == ["kube-system", "tke-eni-ip-webhook"]
    assert config.source.endswith("config.yaml")


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), env={})
    assert config.nats.url == "nats://127.0.0.1:4222"
    assert config.kubernetes.kubeconfig == ""
    assert config.cloud.secret_key is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("cloud:\n  subnets:\n    - {id: subnet-1}\n", "cloud.subnets[0].zone: required",
                     id="missing-zone"),
        pytest.param("cloud:\n  subnets:\n    - {id: '', zone: z}\n", "cloud.subnets[0].id: must not be empty",
                     id="empty-subnet-id"),
        pytest.param("cloud:\n  instanceQuota: many\n", "cloud.instanceQuota: expected int, got str", id="wrong-type"),
        pytest.param("cloud:\n  appId: 1\n", "cloud.appId: unknown key", id="typo-key"),
        pytest.param('cloud:\n  "app\\nId": 1\n', "cloud.app\\nId: unknown key", id="key-with-a-newline"),
        pytest.param(f"cloud:\n  ? {'k' * 5000}\n  : 1\n", f"cloud.{'k' * 194}…: unknown key", id="key-of-5000-chars"),
        pytest.param("placement:\n  switchPrecedence: sometimes\n", "placement.switchPrecedence: invalid enum value",
                     id="bad-enum"),
        pytest.param("telemetry:\n  healthPort: 70000\n", "telemetry.healthPort: must be a port number", id="bad-port"),
        pytest.param("cloud:\n  apiEndpoint: 'ftp://x'\n", "cloud.apiEndpoint: expected host[:port]",
                     id="bad-endpoint"),
        pytest.param("cloud:\n  clusterID: REPLACE_ME_CLUSTER_ID\n", "cloud.clusterID: still the shipped placeholder",
                     id="placeholder-cluster-id"),
        pytest.param("- a\n- b\n", "expected a mapping at the top level", id="not-a-mapping"),
        pytest.param("cloud: [unclosed\n", "line 2 column 1: invalid YAML", id="bad-yaml"),
    ],
)
def test_errors_name_file_and_key_on_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: no such file$"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(VALID + "  bogus: 1\n", id="unknown-key-elsewhere"),
        pytest.param(f"cloud:\n  secretKey: {SECRET}\n  instanceQuota: x\n", id="type-error-elsewhere"),
        pytest.param(f"cloud:\n  secretKey: [{SECRET}]\n", id="secret-of-wrong-type"),
        pytest.param(f"cloud:\n  secretKey: {SECRET}\n  : : :\n", id="yaml-error-near-secret"),
        pytest.param(f"cloud:\n  secretKey: {SECRET}\n\tbad: tab\n", id="yaml-scanner-error"),
    ],
)
def test_secret_never_in_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_secret_never_in_repr(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID), env={})
    key = config.cloud.secret_key
    for shown in (repr(config), str(config), repr(config.cloud), f"{key}", str(key), f"{key!s:>40}"):
        assert SECRET not in shown
    assert "'***'" in repr(config.cloud)
    with pytest.raises(TypeError):
        pickle.dumps(config.cloud.secret_key)


@pytest.mark.parametrize(
    ("env", "expected_id", "expected_key"),
    [
        pytest.param({}, "AKIDexample", SECRET, id="file"),
        pytest.param({"TENCENTCLOUD_SECRET_ID": "tc-id", "TENCENTCLOUD_SECRET_KEY": "tc-key"}, "tc-id", "tc-key",
                     id="tencentcloud-env"),
        pytest.param({"TENCENTCLOUD_SECRET_KEY": "tc-key", "SPILLWAY_SECRET_KEY": "sp-key", "SPILLWAY_SECRET_ID": "sp"},
                     "sp", "sp-key", id="spillway-env-wins"),
    ],
)
def test_secrets_from_env(tmp_path: Path, env: dict[str, str], expected_id: str, expected_key: str) -> None:
    config = load_config(write(tmp_path, VALID), env=env)
    assert config.cloud.secret_id == expected_id
    assert config.cloud.secret_key == Secret(expected_key)


def test_require_names_the_missing_key() -> None:
    config = parse_config({"cloud": {"vpcID": "vpc-1"}}, "values.yaml", env={})
    require(config, "cloud.vpcID")
    with pytest.raises(ConfigError, match=r"^values\.yaml: cloud\.secretKey: required$"):
        require(config, "cloud.vpcID", "cloud.secretKey")


def test_the_shipped_cluster_id_placeholder_is_refused_naming_the_key(tmp_path: Path) -> None:
    """Instance names (the only owner mark a cloud instance has) start with cloud.clusterID: a cluster
    must not run on the placeholder every copy of the manifests carries."""
    with pytest.raises(ConfigError) as info:
        load_config(PRODUCTION_CONFIG, env={})
    assert info.value.key == "cloud.clusterID"
    assert "placeholder" in info.value.problem
    text = PRODUCTION_CONFIG.read_text()
    assert 'clusterID: "REPLACE_ME_CLUSTER_ID"' in text
    config = load_config(write(tmp_path, text.replace("REPLACE_ME_CLUSTER_ID", "idc-shanghai")), env={})
    assert config.cloud.cluster_id == "idc-shanghai"


def test_the_default_cluster_id_is_allowed() -> None:
    """No placeholder, so it is not refused: the cluster's kube-system uid keeps names apart."""
    assert parse_config({}, env={}).cloud.cluster_id == "spillway"


def test_spillway_run_exits_2_naming_cloud_cluster_id(tmp_path: Path) -> None:
    path = write(tmp_path, "cloud:\n  clusterID: REPLACE_ME_CLUSTER_ID\n")
    result = subprocess.run([sys.executable, "-m", "spillway.cli", "run", "cloud-provisioner", "--config", str(path)],
                            capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"spillway run: {path}: cloud.clusterID: still the shipped placeholder (REPLACE_ME…): set a name for this "
        "cluster"]
