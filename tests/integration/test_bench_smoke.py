"""The benchmark harness at a tiny size, so bench/ keeps working between benchmark runs (issue 8: the benchmarks
do not run in CI except this smoke size). It checks that the harness measures, never how fast anything is.

It runs on the test run's control planes (issue 18), with the bench's operator watching only the bench's tenant
namespaces: SpinnakerAccounts that other modules left in MGMT must not reach the bench's Halyard stand-in (its
deploy counts are asserted). Everything else the bench creates has names of its own (labels smoke, r1, r2)."""

from __future__ import annotations

from pathlib import Path

from bench.harness import (
    delete_accounts,
    run_floor,
    run_full_pass,
    run_scale,
    run_seed_baseline,
    run_steady,
    start_env,
    stop_env,
    tenant_namespaces,
)
from bench.run import ratio_label, with_ratio

from spinop.devcluster.controlplane import ControlPlanes
from tests.integration.spinnaker.conftest import QUIET_SECONDS

SEED_SIZES = (1, 2)


def test_bench_harness_measures_a_tiny_burst_and_the_seed_procedure(
    tmp_path: Path, control_planes: ControlPlanes
) -> None:
    tenants = [*tenant_namespaces("smoke", 3), *(ns for n in SEED_SIZES for ns in tenant_namespaces(ratio_label(n), n))]
    env = start_env(
        tmp_path / "bench",
        deploy_seconds=0.2,
        drift_interval=120,
        planes=control_planes,
        watch_namespaces=tenants,
        quiet_seconds=QUIET_SECONDS,
    )
    try:
        floor = run_floor(env, 3, label="smoke")
        assert floor > 0
        result = run_scale(env, 3, label="smoke")
        assert result.accounts == 3 and result.seconds_to_ready > 0
        assert 0 < result.seconds_to_verified <= result.seconds_to_ready
        steady = run_steady(env, 3, window=2, drift_interval=120)
        assert steady.requests_per_account_hour >= 0
        # A restarted operator proves every account again (the proof is remembered in memory only): the hourly cost.
        full = run_full_pass(env, 3)
        assert full.token_reviews_per_account >= 2 and full.requests_per_account > 2, full
        assert result.deploys == 1, "one burst, one deploy"
        assert 1 <= result.halyard_config_writes <= 2, "one burst, one Halyard provider write (issue 17)"
        # The audit log was read: the operator wrote on MGMT and on the remote clusters for these accounts.
        assert result.writes_per_account.get("operator on MGMT", 0) > 0, result.writes_per_account
        assert result.writes_per_account.get("operator on remote clusters", 0) > 0, result.writes_per_account
        assert result.operator_peak_rss_mib > 0
        delete_accounts(env, "smoke", result)
        assert result.deletion_deploys == 1
        # Two sizes in one run, as the full plan does (each size registers its own accounts).
        for n in SEED_SIZES:
            seed = with_ratio(run_seed_baseline(env, n), env, {3: result})
            assert seed["accounts"] == n and seed["seconds"] > 0 and seed["deploys"] == n, seed
            assert seed["spinop_seconds"] > 0 and seed["ratio"] == round(seed["seconds"] / seed["spinop_seconds"], 1)
    finally:
        stop_env(env)
