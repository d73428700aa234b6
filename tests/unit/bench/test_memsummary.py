from __future__ import annotations

from bench.memsummary import package_of, proc_status_kib, summarise

SITE = "/work/main/.venv/lib/python3.11/site-packages"
STDLIB = "/root/.pyenv/versions/3.11.7/lib/python3.11"


def test_a_source_file_is_grouped_by_its_top_level_package() -> None:
    assert package_of(f"{SITE}/kubernetes/client/models/v1_pod.py") == "kubernetes"
    assert package_of(f"{SITE}/typing_extensions.py") == "typing_extensions"
    assert package_of(f"{STDLIB}/asyncio/sslproto.py") == "stdlib:asyncio"
    assert package_of(f"{STDLIB}/typing.py") == "stdlib:typing"
    assert package_of("<frozen importlib._bootstrap_external>") == "<frozen importlib._bootstrap_external>"
    assert package_of("/work/main/operator/spinop/remote/watch.py") == "spinop.remote"
    assert package_of("/work/main/operator/spinop/metrics.py") == "spinop.metrics"
    assert package_of("/elsewhere/thing.py") == "/elsewhere/thing.py"


def test_the_summary_sums_packages_and_keeps_the_largest_lines_first() -> None:
    stats = [
        (f"{SITE}/kopf/_core/a.py", 10, 2048, 4),
        (f"{SITE}/kubernetes/client/b.py", 5, 10240, 100),
        (f"{SITE}/kopf/_core/c.py", 7, 3072, 2),
    ]
    summary = summarise(stats, top=2)
    assert summary["traced_kib"] == 15.0 and summary["blocks"] == 106
    assert [e["where"] for e in summary["by_line"]] == [f"{SITE}/kubernetes/client/b.py:5", f"{SITE}/kopf/_core/c.py:7"]
    assert summary["by_package"] == [
        {"package": "kubernetes", "kib": 10.0, "blocks": 100},
        {"package": "kopf", "kib": 5.0, "blocks": 6},
    ]


def test_proc_status_memory_lines_are_read_in_kib() -> None:
    text = "Name:\tpython\nVmPeak:\t  400 kB\nVmHWM:\t  300 kB\nVmRSS:\t  200 kB\nRssAnon:\t 150 kB\n"
    text += "Threads:\t7\nUid:\t0\n"
    assert proc_status_kib(text) == {"VmPeak": 400, "VmHWM": 300, "VmRSS": 200, "RssAnon": 150, "Threads": 7}
