"""Wire facts of Fiat's permissions model that spinop's account permissions rely on.

Read in github:spinnaker/fiat:
- fiat-core/src/main/java/com/netflix/spinnaker/fiat/model/Authorization.java: `enum Authorization { READ, WRITE,
  EXECUTE, CREATE }`, nothing else.
- fiat-core/src/main/java/com/netflix/spinnaker/fiat/model/resources/Permissions.java: `Builder.fromMap` trims each
  role, drops blank ones, lowercases them and drops keys left without roles; `isRestricted()` is true when any key
  keeps a role; `getAuthorizationsFromRoles` returns `Authorization.ALL` when not restricted: an account without
  roles is open to every user.
- fiat-core/src/main/java/com/netflix/spinnaker/fiat/model/resources/Account.java: an account's view carries
  `permissions.getAuthorizations(userRoles)`: only the keys whose roles the user holds once restricted.
"""

from __future__ import annotations

from spinop.api.v1alpha1 import AUTHORIZATIONS, Permissions


def test_the_permission_keys_are_fiats_authorization_enum() -> None:
    # fiat-core .../fiat/model/Authorization.java
    assert AUTHORIZATIONS == ("READ", "WRITE", "EXECUTE", "CREATE")
    assert [field.alias for field in Permissions.model_fields.values()] == list(AUTHORIZATIONS)


def test_roles_are_trimmed_lowercased_and_blank_ones_dropped_as_fiats_builder_does() -> None:
    # fiat-core .../resources/Permissions.java, Builder.fromMap: trim, filter non-empty, toLowerCase.
    granted = Permissions.model_validate({"READ": [" Team-A ", "  "], "WRITE": [" "], "EXECUTE": []}).granted()
    assert granted == {"READ": ("team-a",)}


def test_permissions_without_any_role_are_unrestricted_in_fiat() -> None:
    # fiat-core .../resources/Permissions.java: !isRestricted() -> Authorization.ALL for every user.
    assert Permissions.model_validate({}).granted() == {}
    assert Permissions.model_validate({"READ": [], "WRITE": ["\t"]}).granted() == {}
    assert Permissions.model_validate({"CREATE": ["platform"]}).granted() == {"CREATE": ("platform",)}
