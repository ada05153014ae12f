# Sourced by the other scripts: installs what building Cirrus needs on a fresh Debian
# machine, and points cargo at a target directory outside the clone so that builds
# (RocksDB's C++ above all) are reused between clones and CI runs.
if ! dpkg -s libclang-dev >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev >/dev/null
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cirrus-target}"
