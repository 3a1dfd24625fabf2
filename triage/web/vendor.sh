#!/usr/bin/env bash
# Re-vendors Leaflet from the npm registry (`npm pack`), checking the files against the hashes
# of the committed copy. The dashboard bundles these into the triage binary; nothing is fetched
# at build or run time.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version=1.9.4
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "leaflet@$version" >/dev/null && tar xzf "leaflet-$version.tgz")
dest="$here/vendor/leaflet-$version"
mkdir -p "$dest"
cp "$tmp/package/dist/leaflet.js" "$tmp/package/dist/leaflet.css" "$tmp/package/LICENSE" "$dest/"
(cd "$dest" && sha256sum -c "$here/vendor.sha256")
