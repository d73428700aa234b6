"""`spinop import`: existing Spinnaker Kubernetes accounts → SpinnakerCluster/SpinnakerAccount YAML that adopts them.

- `sources`: where the accounts come from (halconfig, live Halyard, account lists) and where their kubeconfigs point;
- `plan`: the pure plan, accounts → clusters, tenants and adopting objects, checked with the operator's tenancy rules;
- `output`: the report (text, JSON), the YAML, the directory for `kubectl apply -k` and the remote admins' scripts;
- `cli`: the command's arguments and the glue between the three.

Module-level imports stay light (stdlib and yaml): `spinop --help` builds this command's parser on every run.
"""
