"""bench.run's plan and bench.report's tables when a size failed (issue 17 item 6: a long run keeps its later
phases, and the report says what failed)."""

from __future__ import annotations

from typing import Any

from bench.harness import poll_interval, wait_limit
from bench.report import render
from bench.run import steady_size


def test_the_steady_state_is_measured_at_1000_or_at_the_largest_size_when_1000_is_not_burst() -> None:
    assert steady_size([30, 100, 300, 1000, 3000], 1000) == 1000
    assert steady_size([3], 1000) == 3
    assert steady_size([30, 100], 30) == 30


def test_the_harness_lists_large_bursts_less_often_and_waits_longer_for_them() -> None:
    assert poll_interval(30) == poll_interval(1000) == 2.0
    assert poll_interval(3000) == 6.0
    assert wait_limit(300) == wait_limit(1000) == 3600
    assert wait_limit(3000) == 3 * 3600


def _size(n: int) -> dict[str, Any]:
    return {
        "accounts": n,
        "seconds_to_ready": 10.0,
        "seconds_to_verified": 5.0,
        "floor_seconds": 2.0,
        "ratio_to_floor": 2.5,
        "deploys": 1,
        "halyard_config_writes": 1,
        "requests": {"operator on MGMT": {"get": 3}},
        "writes_per_account": {},
        "reviews_per_account": {},
        "top_requests": {"operator on MGMT": [["get secrets", 3]]},
        "operator_cpu_seconds": 1.0,
        "operator_rss_mib": 100.0,
        "operator_peak_rss_mib": 120.0,
        "deletion_seconds": 3.0,
        "deletion_deploys": 1,
    }


def test_the_report_shows_a_failed_size_and_reads_the_largest_measured_one() -> None:
    results = {
        "date": "2026-12-05T12:00:00+00:00",
        "machine": {"cpus": 2, "python": "3.11.7", "platform": "Linux"},
        "settings": {"deploy_seconds": 5.0, "drift_interval": 120.0},
        "scale": [_size(1000), {"accounts": 3000, "error": "RuntimeError: only 2900/3000 | Ready"}],
        "seed_baseline": [{"accounts": 30, "error": "AssertionError: timed out"}],
        "steady": {"accounts": 1000, "error": "ApiException: 500"},
    }
    text = render(results)
    assert "| 3000 | failed: RuntimeError: only 2900/3000 \\| Ready |" in text
    assert "`get secrets`: 3" in text  # the requests tables come from the 1,000 entry
    assert "| 30 | failed: AssertionError: timed out |" in text
    assert "Steady state at 1000 accounts: failed: ApiException: 500" in text


def test_the_report_says_so_when_no_size_was_measured() -> None:
    results = {
        "date": "d",
        "machine": {"cpus": 2, "python": "3.11.7", "platform": "Linux"},
        "settings": {"deploy_seconds": 5.0, "drift_interval": 120.0},
        "scale": [{"accounts": 30, "error": "boom"}],
    }
    assert "No size was measured." in render(results)
