#!/usr/bin/env bash
# Installs every Debian package tandem needs to build, test and demo. Idempotent:
# packages already present are left alone, and apt-get runs only when one is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libsqlite3-dev sqlite3
  libyaml-cpp-dev nlohmann-json3-dev libfmt-dev libcli11-dev libxxhash-dev
  googletest libgtest-dev libgmock-dev
  libpq-dev libmariadb-dev libhowardhinnant-date-dev
  python3
)
if [[ "${1:-}" == "--servers" ]]; then
  packages+=(postgresql-15 postgresql-client-15 mariadb-server mariadb-client python3-psycopg2 python3-pymysql)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root or install them)" >&2
  exit 3
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
