"""The token Secrets' `spinop.io/token-for` label value: bounded for a 100-character accountName, and unchanged for
every name that fitted before (so Secrets labelled by earlier versions keep their value)."""

from __future__ import annotations

import re

from spinop.api.v1alpha1.account import MAX_ACCOUNT_NAME_LENGTH
from spinop.credentials.tokens import token_for

# k8s.io/apimachinery/pkg/util/validation: IsValidLabelValue (qualifiedNameFmt, at most 63 characters).
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def test_a_maximum_length_account_gets_a_valid_stable_label_value() -> None:
    service_account = "spinop-" + "a" * MAX_ACCOUNT_NAME_LENGTH
    value = token_for(service_account)
    assert len(value) <= 63 and LABEL_VALUE.match(value), value
    assert value == token_for(service_account)
    assert value != token_for("spinop-" + "a" * (MAX_ACCOUNT_NAME_LENGTH - 1) + "b")


def test_names_that_fit_keep_the_value_earlier_versions_wrote() -> None:
    for service_account in ("spinop-dev", "spinop-" + "a" * 56):
        assert token_for(service_account) == service_account
    assert token_for("spinop-" + "a" * 57) != "spinop-" + "a" * 57
