#!/usr/bin/env bash
# Start what the tests and the demo need on loopback: a Docker engine (only when none answers),
# a registry on 127.0.0.1, and the local Python base images. Every process started here has its
# PID written under $FLOWIMG_SERVICES; `scripts/services.sh stop` stops exactly those.
set -euo pipefail

STATE=${FLOWIMG_SERVICES:-/tmp/flowimg-services}
REGISTRY_PORT=${FLOWIMG_REGISTRY_PORT:-5000}
BASE_IMAGE=${FLOWIMG_BASE_IMAGE:-flowimg/python-base:bookworm}
PIP_BASE_IMAGE=${FLOWIMG_PIP_BASE_IMAGE:-flowimg/python-pip:bookworm}
DOCKER=/usr/bin/docker
mkdir -p "$STATE"

log() { echo "services: $*" >&2; }

need_packages() {
  local missing=()
  [ -x "/usr/sbin/dockerd" ] || missing+=(docker.io)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v git >/dev/null || missing+=(git)
  command -v openssl >/dev/null || missing+=(openssl)  # self-signed certificates in the hostile tests
  command -v setpriv >/dev/null || missing+=(util-linux)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  fi
}

engine_answers() { timeout 5 "$DOCKER" info >/dev/null 2>&1; }

start_engine() {
  if engine_answers; then log "a Docker engine already answers; leaving it alone"; return; fi
  log "starting dockerd"
  # No bridge, no iptables, no masquerading: containers use network none or host only.
  nohup dockerd --bridge=none --iptables=false --ip-masq=false \
    --host=unix:///var/run/docker.sock --insecure-registry 127.0.0.1:"$REGISTRY_PORT" \
    >"$STATE/dockerd.log" 2>&1 &
  echo $! >"$STATE/dockerd.pid"
  for _ in $(seq 1 60); do engine_answers && return; sleep 1; done
  log "the engine did not answer in 60 s; see $STATE/dockerd.log"; tail -5 "$STATE/dockerd.log" >&2; exit 1
}

registry_answers() { curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null 2>&1; }

start_registry() {
  if registry_answers; then log "a registry already answers on 127.0.0.1:$REGISTRY_PORT"; return; fi
  mkdir -p "$STATE/registry-data"
  cat >"$STATE/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $STATE/registry-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REGISTRY_PORT
YML
  nohup docker-registry serve "$STATE/registry.yml" >"$STATE/registry.log" 2>&1 &
  echo $! >"$STATE/registry.pid"
  for _ in $(seq 1 30); do registry_answers && return; sleep 0.5; done
  log "registry did not answer; see $STATE/registry.log"; exit 1
}

apt_mirror() {
  # The machine's own Debian mirror, read at run time: never written into the repo.
  awk '/^URIs:/{print $2; exit} /^deb /{print $2; exit}' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -1
}

build_base() {
  local image=$1 include=$2
  if "$DOCKER" image inspect "$image" >/dev/null 2>&1; then log "base image $image present"; return; fi
  local rootfs; rootfs=$(mktemp -d /tmp/flowimg-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' RETURN
  log "building base image $image (debootstrap, about a minute)"
  debootstrap --variant=minbase --include="$include" bookworm "$rootfs" "$(apt_mirror)" >"$STATE/debootstrap.log" 2>&1 \
    || { tail -20 "$STATE/debootstrap.log" >&2; exit 1; }
  rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "$DOCKER" import -c 'ENV LANG=C.UTF-8' - "$image" >/dev/null
}

leave_swarm() {
  # Only the engine started here: a swarm a test left behind goes, with the bridge Swarm makes.
  [ -f "$STATE/dockerd.pid" ] && engine_answers || return 0
  if [ "$("$DOCKER" info --format '{{.Swarm.LocalNodeState}}')" != inactive ]; then
    log "leaving the swarm"; "$DOCKER" swarm leave --force >/dev/null || true
  fi
  "$DOCKER" network rm docker_gwbridge >/dev/null 2>&1 || true
}

stop_all() {
  leave_swarm
  for name in registry dockerd; do
    if [ -f "$STATE/$name.pid" ]; then
      pid=$(cat "$STATE/$name.pid")
      if kill -0 "$pid" 2>/dev/null; then
        log "stopping $name ($pid)"; kill "$pid"
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      fi
      rm -f "$STATE/$name.pid"
    fi
  done
}

case "${1:-start}" in
  start)
    need_packages
    start_engine
    start_registry
    build_base "$BASE_IMAGE" python3
    build_base "$PIP_BASE_IMAGE" python3,python3-pip,git,ca-certificates
    log "ready: engine, registry 127.0.0.1:$REGISTRY_PORT, $BASE_IMAGE, $PIP_BASE_IMAGE"
    ;;
  stop) stop_all ;;
  *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
