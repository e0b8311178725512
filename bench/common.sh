# Shared by the benchmark scripts: build warden in release mode and make sure the peers exist.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WARDEN="$ROOT/target/release/warden"

need() { # need CMD PACKAGE: install PACKAGE from Debian when CMD is missing
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "installing $2 (for $1)" >&2
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }
  else
    echo "please install $2" >&2; exit 1
  fi
}

build_warden() {
  (cd "$ROOT" && cargo build --release -q -p warden-cli)
}
