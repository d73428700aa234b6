"""The pods/exec WebSocket protocol (v5 and v4) between `KubeExecClient` and the stand-in, over real sockets."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import kubernetes
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from spinop.halyard import KubeExecClient, KubeExecError
from spinop.halyard.kube_exec import V4, V5, exit_code_from_status
from spinop.halyard.pod_files import WRITE_FILE_SCRIPT, remove_file_argv, write_file_argv
from tests.standins.halyard import HalyardStandin

from .conftest import CONTAINER, NAMESPACE, POD, TOKEN, exec_client_for, make_standin


@pytest.mark.parametrize("protocol", [V5, V4])
async def test_exit_codes_stdout_and_stderr(standin: HalyardStandin, protocol: str) -> None:
    client = exec_client_for(standin, protocols=(protocol,))
    ok = await client.run(["hal", "config", "-q", "-o", "json"])
    assert (ok.exit_code, ok.protocol) == (0, protocol)
    assert '"name":"default"' in ok.stdout_text
    missing = await client.run(["hal", "config", "provider", "kubernetes", "account", "get", "nope", "-q"])
    assert missing.exit_code == 1
    assert '! ERROR No account with name "nope" was found' in missing.stderr_text
    unknown = await client.run(["kubectl", "version"])
    assert unknown.exit_code == 127 and "kubectl: command not found" in unknown.stderr_text
    assert [r.protocol for r in standin.exec.log] == [protocol] * 3


async def test_client_preference_order_is_honoured(standin: HalyardStandin) -> None:
    assert (await exec_client_for(standin).run(["hal", "--ready"])).protocol == V5
    assert (await exec_client_for(standin, protocols=(V4, V5)).run(["hal", "--ready"])).protocol == V4


@pytest.mark.parametrize("protocol", [V5, V4])
async def test_stdin_places_a_file_under_the_pod_root(standin: HalyardStandin, protocol: str) -> None:
    client = exec_client_for(standin, protocols=(protocol,))
    content = b"apiVersion: v1\n" * 5000  # several stdin frames
    path = "/home/spinnaker/.hal/kube/prod.yaml"
    result = await client.run(write_file_argv(path, len(content), 0o600), stdin=content)
    assert result.exit_code == 0, result.stderr_text
    assert standin.pod_file(path) == content
    assert standin.podfs.host_path(path).stat().st_mode & 0o777 == 0o600
    assert standin.exec.log[-1].stdin_bytes == len(content)
    assert (await client.run(remove_file_argv(path))).exit_code == 0
    assert standin.pod_file(path) is None
    assert (await client.run(remove_file_argv(path))).exit_code == 0  # rm -f: absent is fine


async def test_v5_close_ends_stdin_early(standin: HalyardStandin) -> None:
    path = "/home/spinnaker/.hal/kube/short.yaml"
    result = await exec_client_for(standin).run(write_file_argv(path, 10, 0o600), stdin=b"abc")
    assert result.exit_code == 1 and "short write" in result.stderr_text
    assert standin.pod_file(path) is None


async def test_paths_cannot_escape_the_pod_root(standin: HalyardStandin, tmp_path: Path) -> None:
    result = await exec_client_for(standin).run(write_file_argv("/../../outside", 1, 0o600), stdin=b"x")
    assert result.exit_code == 0  # normalized to /outside inside the pod root
    assert not (tmp_path / "outside").exists() and standin.pod_file("/outside") == b"x"


async def test_refusals_carry_the_kubernetes_status(standin: HalyardStandin) -> None:
    with pytest.raises(KubeExecError) as bad_token:
        await exec_client_for(standin, token="wrong").run(["hal", "--ready"])
    assert bad_token.value.status == 401
    other = KubeExecClient(standin.kube_url, NAMESPACE, "spin-halyard-1", CONTAINER, token=TOKEN)
    with pytest.raises(KubeExecError, match='pods "spin-halyard-1" not found') as not_found:
        await other.run(["hal", "--ready"])
    assert not_found.value.status == 404 and not_found.value.reason == "NotFound"
    wrong_container = KubeExecClient(standin.kube_url, NAMESPACE, POD, "sidecar", token=TOKEN)
    with pytest.raises(KubeExecError, match="container sidecar is not valid") as bad:
        await wrong_container.run(["hal", "--ready"])
    assert bad.value.status == 400 and not bad.value.retryable


async def test_unsupported_subprotocols_are_refused(standin: HalyardStandin) -> None:
    url = exec_client_for(standin).url(["hal", "--ready"], stdin=False)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, subprotocols=["channel.k8s.io"], additional_headers=headers):  # type: ignore[list-item]
            pass
    assert refused.value.response.status_code == 400
    async with connect(url, subprotocols=[V4], additional_headers=headers) as ws:  # type: ignore[list-item]
        frames = [m async for m in ws]
    assert ws.subprotocol == V4
    assert frames[0] == b"\x01" and frames[1] == b"\x02"  # initial empty stdout and stderr frames
    assert frames[-1][:1] == b"\x03" and b'"Success"' in frames[-1]


def test_exit_code_from_status() -> None:
    assert exit_code_from_status({"status": "Success"}) == 0
    failure = {
        "status": "Failure",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
    }
    assert exit_code_from_status(failure) == 3
    failure["details"] = {"causes": [{"type": "ExitCode", "message": "4"}]}
    assert exit_code_from_status(failure) == 4
    with pytest.raises(KubeExecError, match="container not running"):
        exit_code_from_status({"status": "Failure", "reason": "InternalError", "message": "container not running"})


async def test_tls_with_token_client_certificate_and_configuration(tmp_path: Path) -> None:
    standin = make_standin(tmp_path, tls=True)
    async with standin:
        assert standin.tls is not None
        with_token = exec_client_for(standin, ssl_context=standin.tls.client_context())
        assert (await with_token.run(["hal", "--ready"])).exit_code == 0
        with_cert = KubeExecClient(
            standin.kube_url, NAMESPACE, POD, CONTAINER, ssl_context=standin.tls.client_context(with_client_cert=True)
        )
        assert (await with_cert.run(["hal", "--ready"])).exit_code == 0
        assert standin.exec.log[-1].user == standin.tls.client_cn
        untrusted = exec_client_for(standin, ssl_context=ssl.create_default_context())
        with pytest.raises(KubeExecError) as tls_error:
            await untrusted.run(["hal", "--ready"])
        assert tls_error.value.retryable
        configuration = kubernetes.client.Configuration()
        configuration.host = standin.kube_url
        configuration.api_key = {"authorization": f"Bearer {TOKEN}"}
        configuration.ssl_ca_cert = str(standin.tls.ca_file)
        from_config = KubeExecClient.from_configuration(configuration, NAMESPACE, POD, CONTAINER)
        assert (await from_config.run(["hal", "--ready"])).exit_code == 0
        assert "Bearer" not in repr(from_config.__dict__)  # the token is not held in plain sight


def test_write_script_under_a_real_shell(tmp_path: Path) -> None:
    """The script the exec transport sends must work in a real POSIX shell, not just in the stand-in."""
    target = tmp_path / "deep" / "dir" / "kubeconfig"
    argv = write_file_argv(str(target), 5, 0o640)
    assert argv[2] == WRITE_FILE_SCRIPT
    done = subprocess.run(argv, input=b"hello and more", capture_output=True, timeout=10, check=False)
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == b"hello" and target.stat().st_mode & 0o777 == 0o640
    short = subprocess.run(
        write_file_argv(str(tmp_path / "short"), 5, 0o600), input=b"abc", capture_output=True, timeout=10, check=False
    )
    assert short.returncode == 1 and b"short write" in short.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep"]  # no partial or temporary file left
