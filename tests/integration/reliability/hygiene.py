"""Secret hygiene: record every token spinop stores and everything spinop writes where people read, then look for
the one in the other.

`SecretRecorder` watches MGMT from the test process for as long as the session runs:

- the credentials Secrets (`spinop.io/account-uid` label) in the credentials namespace, every version: the tokens
  (and the stretch of the Secret's base64 `data` that encodes each token) are what must never leak; the admin
  kubeconfigs SpinnakerClusters reference are added too;
- every Event in every namespace, and every version of every SpinnakerAccount and SpinnakerCluster (status and
  annotations): what a tenant or an admin reads with kubectl.

`leaks(texts)` then reports each place where a token, or any 16-character piece of one, or `PRIVATE KEY` appears in
those records or in the given operator logs. Watching (rather than listing at the end) matters: tokens that were
rotated away, Events of namespaces deleted since and status versions that were overwritten all count.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import kubernetes.client as k8s
import yaml
from kubernetes import watch
from kubernetes.client.rest import ApiException
from kubernetes.config import new_client_from_config

from spinop import GROUP, VERSION
from tests.integration.kube import Cluster

#: Any piece of a secret at least this long counts as a leak.
WINDOW = 16
#: Characters tokens and their base64 forms are made of; runs of these are where a piece could hide.
_RUN = re.compile(r"[A-Za-z0-9_\-.+/=]{" + str(WINDOW) + ",}")
PRIVATE_KEY = "PRIVATE KEY"
OWNER_UID_LABEL = f"{GROUP}/account-uid"


@dataclass(frozen=True)
class Record:
    """One thing spinop wrote that people read: an Event, or a version of a CR's status and annotations."""

    at: float
    source: str
    text: str


@dataclass(frozen=True)
class Leak:
    where: str
    secret: str  # which secret: "<Secret name> token" (never the value)
    piece: str  # the matching piece, shortened
    context: str

    def __str__(self) -> str:
        return f"{self.where}: a piece of {self.secret} ({self.piece}): …{self.context}…"


@dataclass
class _Secret:
    label: str
    pieces: set[str] = field(default_factory=set)


def _windows(value: str) -> Iterator[str]:
    for i in range(len(value) - WINDOW + 1):
        yield value[i : i + WINDOW]


def token_pieces(token: str, stored_base64: str | None = None, plain: str | None = None) -> set[str]:
    """Every 16-character piece of the token, of its base64 forms (all three alignments), and of the stretch of
    the Secret's base64 data that encodes it."""
    pieces = set(_windows(token))
    raw = token.encode()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode()
        skip = (8 * pad + 5) // 6  # characters that also encode the padding bytes
        pieces.update(_windows(encoded[skip : len(encoded) - 4]))
    if stored_base64 and plain and token in plain:
        start = len(plain[: plain.index(token)].encode())
        end = start + len(raw)
        pieces.update(_windows(stored_base64[(start // 3 + 1) * 4 : (end // 3) * 4]))
    return pieces


def kubeconfig_token(text: str) -> str | None:
    try:
        config = yaml.safe_load(text)
        return str(config["users"][0]["user"]["token"]) or None
    except (yaml.YAMLError, KeyError, IndexError, TypeError):
        return None


class SecretRecorder:
    """Watch threads against MGMT (as admin), started once per session."""

    def __init__(self, mgmt: Cluster, credentials_namespace: str) -> None:
        self.mgmt = mgmt
        self.credentials_namespace = credentials_namespace
        self.records: list[Record] = []
        self._secrets: dict[str, _Secret] = {}  # token -> what it is
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.errors: list[str] = []

    # ---------------------------------------------------------------------------------------------- lifecycle

    def start(self) -> SecretRecorder:
        watches: list[tuple[str, Callable[[k8s.ApiClient], Callable[..., Any]], dict[str, Any]]] = [
            (
                "credentials Secret",
                lambda api: k8s.CoreV1Api(api).list_namespaced_secret,
                {"namespace": self.credentials_namespace},
            ),
            ("Event", lambda api: k8s.CoreV1Api(api).list_event_for_all_namespaces, {}),
        ]
        for plural in ("spinnakeraccounts", "spinnakerclusters", "spinnakerpipelines"):
            watches.append(
                (
                    plural,
                    lambda api: k8s.CustomObjectsApi(api).list_cluster_custom_object,
                    {"group": GROUP, "version": VERSION, "plural": plural},
                )
            )
        ready = []
        for kind, lister, kwargs in watches:
            started = threading.Event()
            thread = threading.Thread(
                target=self._watch, args=(kind, lister, kwargs, started), name=f"hygiene-{kind}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
            ready.append(started)
        for started in ready:
            started.wait(timeout=30)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def _watch(
        self,
        kind: str,
        lister: Callable[[k8s.ApiClient], Callable[..., Any]],
        kwargs: dict[str, Any],
        started: threading.Event,
    ) -> None:
        api = new_client_from_config(config_file=str(self.mgmt.kubeconfig))
        try:
            version: str | None = None
            while not self._stop.is_set():
                try:
                    if version is None:
                        listed = lister(api)(**kwargs)
                        items = listed["items"] if isinstance(listed, dict) else listed.items
                        for item in items:
                            self._observe(kind, api, item)
                        meta = listed["metadata"] if isinstance(listed, dict) else listed.metadata
                        version = meta["resourceVersion"] if isinstance(meta, dict) else meta.resource_version
                        started.set()
                    stream = watch.Watch().stream(
                        lister(api), **kwargs, resource_version=version, timeout_seconds=5, allow_watch_bookmarks=True
                    )
                    for event in stream:
                        obj = event["object"]
                        if event["type"] == "ERROR":
                            version = None
                            break
                        meta = obj["metadata"] if isinstance(obj, dict) else obj.metadata
                        version = meta["resourceVersion"] if isinstance(meta, dict) else meta.resource_version
                        if event["type"] != "BOOKMARK":
                            self._observe(kind, api, obj)
                        if self._stop.is_set():
                            break
                except ApiException as err:
                    if err.status == 410:
                        version = None
                        continue
                    self.errors.append(f"{kind} watch: HTTP {err.status}")
                    self._stop.wait(1)
                except Exception as err:  # a dropped stream: watch again from the last version
                    if self._stop.is_set():
                        break
                    self.errors.append(f"{kind} watch: {type(err).__name__}")
                    self._stop.wait(1)
        finally:
            started.set()
            api.close()

    # ------------------------------------------------------------------------------------------------ recording

    def _observe(self, kind: str, api: k8s.ApiClient, obj: Any) -> None:
        body = obj if isinstance(obj, dict) else api.sanitize_for_serialization(obj)
        if kind == "credentials Secret":
            self._learn_secret(body)
            return
        meta = body.get("metadata") or {}
        where = f"{kind} {meta.get('namespace') or '-'}/{meta.get('name')}"
        if kind == "Event":
            text = json.dumps(
                {k: body.get(k) for k in ("reason", "message", "note", "involvedObject", "source")}, sort_keys=True
            )
        else:
            text = json.dumps({"status": body.get("status"), "annotations": meta.get("annotations")}, sort_keys=True)
            if kind == "spinnakerclusters":
                self._learn_admin_secret((body.get("spec") or {}).get("kubeconfigSecretRef") or {}, api)
        with self._lock:
            self.records.append(Record(time.time(), where, text))

    def _learn_secret(self, body: dict[str, Any]) -> None:
        labels = (body.get("metadata") or {}).get("labels") or {}
        name = (body.get("metadata") or {}).get("name")
        stored = (body.get("data") or {}).get("kubeconfig")
        if OWNER_UID_LABEL not in labels or not stored:
            return
        self._add_kubeconfig(f"credentials Secret {name}", stored)

    def _learn_admin_secret(self, ref: dict[str, Any], api: k8s.ApiClient) -> None:
        name = ref.get("name")
        if not name or any(s.label == f"admin Secret {name}" for s in self._secrets.values()):
            return
        try:
            secret = k8s.CoreV1Api(api).read_namespaced_secret(name, self.credentials_namespace)
        except ApiException:
            return
        stored = (secret.data or {}).get(ref.get("key") or "kubeconfig")
        if stored:
            self._add_kubeconfig(f"admin Secret {name}", stored)

    def _add_kubeconfig(self, label: str, stored: str) -> None:
        try:
            plain = base64.b64decode(stored).decode()
        except (ValueError, UnicodeDecodeError):
            return
        token = kubeconfig_token(plain)
        if token is None:
            return
        with self._lock:
            if token not in self._secrets:
                self._secrets[token] = _Secret(label, token_pieces(token, stored, plain))

    # ------------------------------------------------------------------------------------------------- checking

    @property
    def token_count(self) -> int:
        with self._lock:
            return len(self._secrets)

    def records_since(self, since: float) -> list[Record]:
        with self._lock:
            return [r for r in self.records if r.at >= since]

    def leaks(self, texts: Iterable[tuple[str, str]], limit: int = 20) -> list[Leak]:
        """Leaks in `texts` ((where, text) pairs): any token piece, or private key material."""
        with self._lock:
            owners = {piece: secret.label for secret in self._secrets.values() for piece in secret.pieces}
        found: list[Leak] = []
        for where, text in texts:
            if PRIVATE_KEY in text:
                index = text.index(PRIVATE_KEY)
                found.append(Leak(where, "private key material", PRIVATE_KEY, text[max(0, index - 80) : index + 40]))
            for match in _RUN.finditer(text):
                run = match.group()
                for offset, piece in enumerate(_windows(run)):
                    owner = owners.get(piece)
                    if owner is None:
                        continue
                    at = match.start() + offset
                    found.append(Leak(where, owner, piece[:6] + "…", _mask(text[max(0, at - 60) : at + 40], piece)))
                    break
                if len(found) >= limit:
                    return found
        return found


def _mask(context: str, piece: str) -> str:
    """The surrounding text with the secret piece itself blanked, so a failure report does not leak it again."""
    return context.replace(piece, "<" + "*" * 8 + ">")
