from __future__ import annotations

from spinop.remote.apply import without_managed_fields


def test_observed_objects_keep_everything_but_managed_fields() -> None:
    role = {
        "metadata": {"name": "spinop-a", "labels": {"app": "x"}, "managedFields": [{"manager": "spinop"}]},
        "rules": [{"verbs": ["get"]}],
    }
    assert without_managed_fields(role) == {
        "metadata": {"name": "spinop-a", "labels": {"app": "x"}},
        "rules": [{"verbs": ["get"]}],
    }
    assert without_managed_fields({"kind": "Namespace"}) == {"kind": "Namespace"}
