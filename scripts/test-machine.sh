#!/usr/bin/env bash
# What the tests need of the machine, set up only where it is missing (`make test` runs
# this; so does CI, through .ci/run):
#   - node and npm, for the JavaScript tests;
#   - Debian's prometheus (promtool) for the dashboard and alert tests, nginx for the
#     two-nodes-behind-a-proxy test, chromium for the inspection page's tests: each test
#     starts its own instance on a free port, so the packages' own services are stopped;
#   - PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) running.
# Installing needs root (or sudo); without either, what is missing is named and the tests
# that need it skip (under CI=true they fail).
set -euo pipefail

# How to run a command as root: nothing when root, sudo when it asks for no password.
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo)
else
  as_root=(false)  # no root: installing is reported, not done
fi
updated=""
install() {  # install Debian packages "$@"
  if [ "${as_root[*]}" = false ]; then
    echo "test-machine: $* missing, and no root to install it (apt-get install $*)" >&2
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$updated" ]; then "${as_root[@]}" apt-get update -qq; updated=1; fi
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
stop_service() {  # the package's own service is not wanted: tests start their own
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$1" 2>/dev/null; then
    "${as_root[@]}" systemctl disable --now --quiet "$1" || true
  elif [ -f "/run/$1.pid" ] && command -v service >/dev/null; then
    "${as_root[@]}" service "$1" stop >/dev/null 2>&1 || true
  fi
}

if ! command -v npm >/dev/null; then install nodejs npm; fi
if ! command -v promtool >/dev/null; then
  install prometheus
  stop_service prometheus
fi
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  install nginx
  stop_service nginx
fi
if ! command -v chromium >/dev/null; then install chromium; fi

# PostgreSQL and Redis are started with the machine; start them if they are not running.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! port_open 5432 && command -v pg_ctlcluster >/dev/null; then
  "${as_root[@]}" pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! port_open 6379 && command -v redis-server >/dev/null; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
fi
