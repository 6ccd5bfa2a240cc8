#!/usr/bin/env bash
# Fills fuzz/corpus/TARGET with seeds: the participation cards and Meldedaten files of the
# shared fixtures (../shared/fixtures beside the repository, or $OEGD_SHARED_DIR/fixtures)
# and the certificates in fuzz/seeds/identity. Adds only what is missing, so what libFuzzer
# found in earlier runs stays; the corpus is not committed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shared="${OEGD_SHARED_DIR:-$here/../../shared}"
fixtures="$shared/fixtures"
if [ ! -d "$fixtures/mio-pc" ] || [ ! -d "$fixtures/programme" ]; then
    echo "fuzz/seed.sh: no fixtures under $fixtures (set OEGD_SHARED_DIR)" >&2
    exit 1
fi
corpus="$here/corpus"
mkdir -p "$corpus"/{fhir_json,fhir_xml,card,registry,identity}

for f in "$fixtures"/mio-pc/{valid,invalid}/*; do
    name="$(basename "$f")"
    case "$name" in
        *.json)
            cp -n "$f" "$corpus/fhir_json/$name"
            cp -n "$f" "$corpus/card/$name"
            ;;
        *.xml) cp -n "$f" "$corpus/fhir_xml/$name" ;;
    esac
done

# Meldedaten: the small deliveries whole, the large one's head (header and 40 rows).
for f in "$fixtures"/programme/small/meldedaten_*.csv; do
    name="$(basename "$f")"
    if [ "$(stat -c %s "$f")" -le 16384 ]; then
        cp -n "$f" "$corpus/registry/$name"
    else
        [ -e "$corpus/registry/head-$name" ] || head -n 41 "$f" > "$corpus/registry/head-$name"
    fi
done

# Certificates made by `oegd-gateway init` and `cert issue` (a throw-away CA; no keys):
# client certificates of the four roles, the CA and the server certificate (no Admission).
cp -n "$here"/seeds/identity/*.der "$corpus/identity/"

for t in fhir_json fhir_xml card registry identity; do
    printf '%-10s %3d seeds\n' "$t" "$(find "$corpus/$t" -type f | wc -l)"
done
