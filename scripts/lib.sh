# scripts/lib.sh - shared by scripts/run, scripts/test and scripts/bench.
# Installs the Debian packages Gongyou needs when any is missing.

GY_PACKAGES="build-essential cmake pkg-config libevent-dev libcurl4-openssl-dev libcjson-dev \
libsqlite3-dev libssl-dev libcsv-dev libexpat1-dev tzdata python3 curl ca-certificates openssl"

gy_root() {
    cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd
}

# gy_install_packages [extra packages...]
gy_install_packages() {
    local missing=() p sudo=""
    for p in $GY_PACKAGES "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; return 1; }
        sudo="sudo"
    fi
    echo "installing: ${missing[*]}" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# gy_build DIR [cmake options...]: configure and build into DIR.
gy_build() {
    local dir=$1
    shift
    cmake -S "$(gy_root)" -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j "$(nproc)" >&2
}
