"""The pydantic models: names, defaults, helpers and update rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from spinop import API_VERSION
from spinop.api.errors import FieldError, format_path, from_validation_error, render
from spinop.api.v1alpha1 import (
    Condition,
    ConditionStatus,
    Credentials,
    CredentialsType,
    DeletionPolicy,
    DriftPolicy,
    Profile,
    SpinnakerAccount,
    SpinnakerAccountSpec,
    SpinnakerCluster,
    SpinnakerClusterSpec,
    SpinnakerPipeline,
    SpinnakerPipelineSpec,
    default_account_name,
    format_duration,
    parse_duration,
    parse_resource,
    resource_class,
    validate_resource,
    validate_update,
)
from tests.unit.api.invalid_corpus import account, cluster, pipeline


def test_default_account_name_fits_spinnaker_rules() -> None:
    assert default_account_name("dev", "team-a-dev") == "dev-team-a-dev"
    longest = default_account_name("c" * 36, "n" * 63)
    assert len(longest) == 100
    spec = SpinnakerAccountSpec.model_validate({"cluster": "c" * 36, "namespace": "n" * 63})
    assert spec.effective_account_name == longest
    assert SpinnakerAccountSpec(cluster="dev", namespace="x", account_name="mine").effective_account_name == "mine"


def test_account_defaults() -> None:
    spec = SpinnakerAccountSpec.model_validate({"cluster": "dev", "namespace": "team-a-dev"})
    assert spec.profile == Profile.DEPLOYER
    assert spec.deletion_policy == DeletionPolicy.RETAIN
    assert spec.only_spinnaker_managed is True
    assert spec.cache_threads == 1
    assert spec.adopt is False
    assert spec.account_name is None and spec.extra_rules is None and spec.permissions is None


def test_cluster_defaults() -> None:
    spec = SpinnakerClusterSpec.model_validate({"kubeconfigSecretRef": {"name": "k"}, "environment": "dev"})
    assert spec.kubeconfig_secret_ref.key == "kubeconfig"
    assert spec.tenancy.namespace_selector is None  # secure by default: no tenant may request accounts
    assert spec.tenancy.namespace_pattern == "{tenant}-{environment}"
    assert spec.tenancy.allowed_profiles == [Profile.DEPLOYER, Profile.READONLY]
    assert spec.tenancy.allow_namespace_sharing is False
    assert spec.tenancy.max_accounts_per_tenant is None
    assert spec.credentials.type == CredentialsType.TOKEN_REQUEST
    assert spec.credentials.ttl == "24h"
    assert spec.credentials.rotation_interval == "720h"
    assert spec.credentials.renew_before_delta == timedelta(hours=8)


def test_pipeline_defaults_and_ready_inputs() -> None:
    spec = SpinnakerPipelineSpec.model_validate({"application": "app", "name": "deploy", "pipeline": {}})
    assert spec.drift_policy == DriftPolicy.ENFORCE and spec.adopt is False
    assert spec.ready_inputs() == ("Synced", "InSync")
    report = spec.model_copy(update={"drift_policy": DriftPolicy.REPORT})
    assert report.ready_inputs() == ("Synced",)


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("24h", timedelta(hours=24)),
        ("90m", timedelta(minutes=90)),
        ("1h30m", timedelta(minutes=90)),
        ("10m", timedelta(minutes=10)),
        ("45s", timedelta(seconds=45)),
        ("2h0m5s", timedelta(hours=2, seconds=5)),
    ],
)
def test_parse_duration(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize("text", ["", "1d", "h", "10", "1.5h", "-1h", "1m1h", "123456h"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_format_duration() -> None:
    assert format_duration(timedelta(hours=8)) == "8h"
    assert format_duration(timedelta(hours=1, minutes=2, seconds=3)) == "1h2m3s"
    assert format_duration(timedelta(0)) == "0s"


def test_credentials_rules() -> None:
    assert Credentials(ttl="10m").ttl_delta == timedelta(minutes=10)
    assert Credentials(ttl="1h", renew_before="59m").renew_before_delta == timedelta(minutes=59)
    assert Credentials(type=CredentialsType.SERVICE_ACCOUNT_TOKEN_SECRET).rotation_interval_delta == timedelta(days=30)
    for bad in ({"ttl": "9m59s"}, {"ttl": "1h", "renewBefore": "1h"}, {"renewBefore": "30s"}):
        with pytest.raises(ValidationError):
            Credentials.model_validate(bad)
    assert Credentials.model_validate({"audiences": ["spinnaker"]}).audiences == ["spinnaker"]


def test_camel_case_aliases_and_round_trip() -> None:
    obj = account(accountName="mine", extraRules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])
    model = SpinnakerAccount.model_validate(obj)
    assert model.spec.account_name == "mine"
    assert model.spec.extra_rules is not None and model.spec.extra_rules[0].api_groups == [""]
    out = model.to_dict()
    assert out["apiVersion"] == "spinop.io/v1alpha1" and out["kind"] == "SpinnakerAccount"
    assert out["spec"]["accountName"] == "mine" and "account_name" not in out["spec"]
    assert SpinnakerAccount.model_validate(out) == model
    # Python names work too, for code that builds specs.
    assert SpinnakerAccountSpec(cluster="dev", namespace="team-a-dev", cache_threads=2).cache_threads == 2


def test_permissions_use_uppercase_keys() -> None:
    model = SpinnakerAccount.model_validate(account(permissions={"READ": ["a"], "WRITE": ["b"], "EXECUTE": ["c"]}))
    assert model.to_dict()["spec"]["permissions"] == {"READ": ["a"], "WRITE": ["b"], "EXECUTE": ["c"]}
    with pytest.raises(ValidationError):
        SpinnakerAccount.model_validate(account(permissions={"READ": ["a", "a"]}))


def test_nulls_in_spec_mean_default() -> None:
    """The apiserver prunes nulls of non-nullable fields before defaulting; the models do the same."""
    model = SpinnakerAccount.model_validate(account(profile=None, accountName=None, cacheThreads=None))
    assert model.spec.profile == Profile.DEPLOYER and model.spec.cache_threads == 1


def test_pipeline_body_is_kept_verbatim() -> None:
    body: dict[str, Any] = {"stages": [{"refId": "1", "type": "wait", "x": None}], "limitConcurrent": True}
    model = SpinnakerPipeline.model_validate(pipeline(pipeline=body))
    assert model.spec.pipeline == body
    assert model.to_dict()["spec"]["pipeline"] == body


def test_status_is_lenient_and_times_are_utc() -> None:
    obj = account()
    obj["status"] = {
        "observedGeneration": 2,
        "somethingNew": True,
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-02T03:04:05+02:00", "extra": 1}
        ],
        "tokenExpiresAt": "2026-01-02T03:04:05Z",
        "credentialsSecretRef": {"namespace": "devops", "name": "team-a-dev"},
    }
    model = SpinnakerAccount.model_validate(obj)
    assert model.status.conditions[0].status == ConditionStatus.TRUE
    out = model.to_dict()["status"]
    assert out["conditions"][0]["lastTransitionTime"] == "2026-01-02T01:04:05Z"
    assert out["tokenExpiresAt"] == "2026-01-02T03:04:05Z"
    assert "somethingNew" not in out


def test_condition_time_serialization() -> None:
    naive = Condition(type="Ready", status=ConditionStatus.TRUE, last_transition_time=datetime(2026, 1, 2, 3, 4, 5))
    assert naive.model_dump(mode="json", by_alias=True)["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    tz = timezone(timedelta(hours=-5))
    shifted = Condition(
        type="Ready", status=ConditionStatus.FALSE, last_transition_time=datetime(2026, 1, 2, 3, tzinfo=tz)
    )
    assert shifted.model_dump(by_alias=True)["lastTransitionTime"] == "2026-01-02T08:00:00Z"


def test_resource_dispatch() -> None:
    assert resource_class(cluster()) is SpinnakerCluster
    assert resource_class(account()) is SpinnakerAccount
    assert isinstance(parse_resource(pipeline()), SpinnakerPipeline)
    with pytest.raises(ValueError, match=r"not a spinop\.io/v1alpha1 object"):
        resource_class({"apiVersion": "v1", "kind": "Pod"})
    model, errors = validate_resource({"apiVersion": "spinop.io/v1", "kind": "SpinnakerAccount"})
    assert model is None and errors[0].path == "kind"
    model, errors = validate_resource(account())
    assert isinstance(model, SpinnakerAccount) and errors == []


def test_cluster_name_rule_only_when_named() -> None:
    obj = cluster("x" * 36)
    assert validate_resource(obj)[1] == []
    obj["metadata"] = {"generateName": "dev-"}
    assert validate_resource(obj)[1] == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (account(), account(profile="readonly", cacheThreads=4, kinds=["deployment"])),
        (account(), account(accountName="corpus-corpus-a-dev")),  # writing the default name down is fine
        (account(accountName="kept"), account(accountName="kept", adopt=True)),
        (pipeline(), pipeline(name="renamed pipeline", driftPolicy="Report")),
        (cluster(), cluster(environment="staging")),
    ],
)
def test_allowed_updates(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert validate_update(old, new) == []


def test_update_errors_name_the_field() -> None:
    errors = validate_update(account(), account(cluster="other", namespace="other-ns", accountName="x"))
    assert [e.path for e in errors] == ["spec.cluster", "spec.namespace", "spec.accountName"]
    assert "immutable" in errors[0].message
    assert validate_update(account(), account(cacheThreads=99))[0].path == "spec.cacheThreads"
    assert validate_update(account(cacheThreads=99), account())[0].message.startswith("the old object")


def test_field_error_paths() -> None:
    assert format_path(("spec", "extraRules", 0, "verbs", 1)) == "spec.extraRules[0].verbs[1]"
    assert format_path(()) == ""
    assert str(FieldError("spec.cluster", "no")) == "spec.cluster: no"
    assert str(FieldError("", "whole object")) == "whole object"
    assert render([FieldError("a", "x"), FieldError("b", "y")]) == "a: x\nb: y"
    with pytest.raises(ValidationError) as exc:
        SpinnakerAccount.model_validate(account(kinds=["deployment"], omitKinds=["secret"]))
    (error,) = from_validation_error(exc.value)
    assert error.path == "spec.omitKinds" and "mutually exclusive" in error.message
    assert from_validation_error(exc.value, prefix=("body",))[0].path == "body.spec.omitKinds"


def test_api_version_is_the_package_one() -> None:
    assert SpinnakerAccount.model_fields["api_version"].default == API_VERSION
