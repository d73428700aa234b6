#!/usr/bin/env bash
# Turn spinop's remote identity (deploy/remote, applied on the remote cluster) into the admin kubeconfig Secret in
# MGMT that a SpinnakerCluster references (spec.kubeconfigSecretRef: {name: <cluster>-admin-kubeconfig, key:
# kubeconfig}). Re-run it to rotate: the Secret is replaced in place and spinop picks it up within a minute, or at
# once when the old token is refused. The kubeconfig only ever exists in a private temp file and in the Secret.
#
#   deploy/remote/admin-kubeconfig.sh --remote-context dev --mgmt-context mgmt --cluster dev
#
# Token sources:
#   request (default)  a TokenRequest token valid for --duration (default 720h; the remote API server may cap it with
#                      --service-account-max-token-expiration). Re-run before it expires (spinop reports
#                      RemoteCredentialsRejected on the SpinnakerCluster when it has).
#   secret             a long-lived token from a kubernetes.io/service-account-token Secret, spinop-system/spinop-admin-token.
#                      Rotate by deleting that Secret and re-running the script (deleting it revokes the token).
set -euo pipefail

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'
Options:
  --remote-context CTX        kubeconfig context of the remote cluster (required)
  --cluster NAME              the SpinnakerCluster's name (required); the Secret is NAME-admin-kubeconfig
  --mgmt-context CTX          kubeconfig context of MGMT (default: the current context)
  --credentials-namespace NS  MGMT namespace of the Secret (default: devops)
  --token request|secret      token source (default: request)
  --duration D                TokenRequest lifetime (default: 720h)
  --server URL                API address spinop should use (default: the remote context's server)
  --print                     print the Secret manifest instead of applying it (contains the token!)
EOF
}

remote_context="" cluster="" mgmt_context="" credentials_namespace="devops"
token_source="request" duration="720h" server="" print_only=0
namespace="spinop-system" service_account="spinop"
kubectl="${KUBECTL:-kubectl}"

while [ $# -gt 0 ]; do
  case "$1" in
    --remote-context) remote_context="$2"; shift 2 ;;
    --cluster) cluster="$2"; shift 2 ;;
    --mgmt-context) mgmt_context="$2"; shift 2 ;;
    --credentials-namespace) credentials_namespace="$2"; shift 2 ;;
    --token) token_source="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --server) server="$2"; shift 2 ;;
    --print) print_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [ -z "$remote_context" ] || [ -z "$cluster" ]; then
  usage >&2
  exit 2
fi

remote=("$kubectl" --context "$remote_context")
mgmt=("$kubectl")
if [ -n "$mgmt_context" ]; then
  mgmt+=(--context "$mgmt_context")
fi

umask 077
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT

# The remote API address and CA, as this machine's kubeconfig knows them.
if [ -z "$server" ]; then
  server="$("${remote[@]}" config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
fi
ca_data="$("${remote[@]}" config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
if [ -z "$ca_data" ]; then
  ca_file="$("${remote[@]}" config view --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')"
  if [ -n "$ca_file" ]; then
    ca_data="$(base64 <"$ca_file" | tr -d '\n')"
  fi
fi
if [ -z "$ca_data" ]; then
  echo "context $remote_context has no certificate authority; spinop will not talk to a cluster it cannot verify" >&2
  exit 1
fi

case "$token_source" in
  request)
    token="$("${remote[@]}" -n "$namespace" create token "$service_account" --duration "$duration")"
    ;;
  secret)
    "${remote[@]}" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: ${service_account}-admin-token
  namespace: ${namespace}
  labels:
    app.kubernetes.io/name: spinop
    app.kubernetes.io/component: remote-identity
  annotations:
    kubernetes.io/service-account.name: ${service_account}
type: kubernetes.io/service-account-token
EOF
    token=""
    for _ in $(seq 1 30); do
      token="$("${remote[@]}" -n "$namespace" get secret "${service_account}-admin-token" -o jsonpath='{.data.token}')"
      [ -n "$token" ] && break
      sleep 1
    done
    if [ -z "$token" ]; then
      echo "the token controller did not fill ${namespace}/${service_account}-admin-token" >&2
      exit 1
    fi
    token="$(printf '%s' "$token" | base64 -d)"
    ;;
  *)
    echo "--token must be request or secret" >&2
    exit 2
    ;;
esac

kubeconfig="$workdir/kubeconfig"
cat >"$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: ${cluster}
    cluster:
      server: ${server}
      certificate-authority-data: ${ca_data}
users:
  - name: spinop
    user:
      token: ${token}
contexts:
  - name: ${cluster}
    context:
      cluster: ${cluster}
      user: spinop
current-context: ${cluster}
EOF
unset token

# Prove the kubeconfig works (and is the spinop identity) before handing it to spinop.
whoami="$("$kubectl" --kubeconfig "$kubeconfig" auth whoami -o jsonpath='{.status.userInfo.username}')"
if [ "$whoami" != "system:serviceaccount:${namespace}:${service_account}" ]; then
  echo "the new kubeconfig authenticates as '$whoami', not spinop's ServiceAccount" >&2
  exit 1
fi

secret="${cluster}-admin-kubeconfig"
"${mgmt[@]}" -n "$credentials_namespace" create secret generic "$secret" \
  --from-file=kubeconfig="$kubeconfig" --dry-run=client -o yaml >"$workdir/secret.yaml"
if [ "$print_only" = 1 ]; then
  cat "$workdir/secret.yaml"
  exit 0
fi
"${mgmt[@]}" apply --server-side --force-conflicts --field-manager=spinop-admin-kubeconfig -f "$workdir/secret.yaml" >/dev/null
echo "Secret ${credentials_namespace}/${secret} holds spinop's admin kubeconfig for cluster ${cluster} (${server})."
echo "SpinnakerCluster ${cluster}: spec.kubeconfigSecretRef: {name: ${secret}, key: kubeconfig}"
