#!/usr/bin/env bash
# Builds the calico-bgpd container image (localhost/calico-bgpd:dev) with
# buildah, from the repo's Containerfile, without any container registry:
#
#   1. base image localhost/calico-bgpd-base:trixie: Debian trixie minbase +
#      nodejs + ca-certificates, made by mmdebstrap from Debian's mirrors
#      and imported into buildah (kept: later builds reuse it; delete it with
#      `buildah rmi localhost/calico-bgpd-base:trixie` to refresh it);
#   2. `buildah bud --isolation chroot` of the Containerfile on that base.
#
# Installs buildah and mmdebstrap through apt when missing (run as root).
# The image name is the last line printed.
#
#   scripts/build-image.sh            # IMAGE=... overrides the name
set -euo pipefail
cd "$(dirname "$0")/.."

image="${IMAGE:-localhost/calico-bgpd:dev}"
base="${BASE_IMAGE:-localhost/calico-bgpd-base:trixie}"
suite="${DEBIAN_SUITE:-trixie}"

# --- tools -----------------------------------------------------------------
missing=()
for tool in buildah:buildah mmdebstrap:mmdebstrap; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "build-image: missing: ${missing[*]} (run as root, or apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  echo "build-image: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q "${missing[@]}" >&2
fi

# --- base --------------------------------------------------------------------
if buildah inspect --type image "$base" >/dev/null 2>&1; then
  echo "build-image: reusing base $base" >&2
else
  echo "build-image: making base $base (mmdebstrap $suite minbase + nodejs)" >&2
  work="$(mktemp -d)"
  ctr=""
  trap 'rm -rf "$work"; if [ -n "$ctr" ]; then buildah rm "$ctr" >/dev/null 2>&1 || true; fi' EXIT
  # Documentation, man pages and translations are not installed: nobody
  # reads them in a container, and they are a tenth of the size.
  mmdebstrap --variant=minbase --include=nodejs,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    "$suite" "$work/rootfs.tar" >&2
  ctr="$(buildah from scratch)"
  buildah add "$ctr" "$work/rootfs.tar" / >&2
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/sh "$ctr" >&2
  buildah commit --rm "$ctr" "$base" >&2
  ctr=""
fi

# --- image -------------------------------------------------------------------
# The host's CA bundle goes in as a build secret for npm (see Containerfile).
ca="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
if [ ! -s "$ca" ]; then
  echo "build-image: no CA bundle at $ca (install ca-certificates, or set CA_BUNDLE)" >&2
  exit 1
fi
buildah bud --isolation chroot --layers --force-rm --build-arg "BASE=$base" --secret "id=ca,src=$ca" \
  -f Containerfile -t "$image" . >&2
buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$image" >&2
echo "$image"
