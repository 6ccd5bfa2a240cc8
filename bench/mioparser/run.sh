#!/usr/bin/env bash
# Side by side: reading and validating the same participation cards with oegd-fhir and with
# the KBV's own parser (@kbv/mioparser on Node.js), interleaved in one run on one machine,
# reported as a ratio (medians of REPEAT runs each), with the agreement of the verdicts.
#
#   bench/mioparser/run.sh [ROUNDS_OURS] [ROUNDS_KBV] [REPEAT]
#
# Needs Node.js with npm, and the fixtures beside the repository (or $OEGD_SHARED_DIR).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cards="${OEGD_SHARED_DIR:-$root/../shared}/fixtures/mio-pc"
ours_rounds="${1:-2000}"
kbv_rounds="${2:-20}"
repeat="${3:-3}"

(cd "$here" && npm ci --no-audit --no-fund --silent)
cargo build --quiet --release -p oegd-fhir --example parse_bench --manifest-path "$root/Cargo.toml"
ours_bin="$root/target/release/examples/parse_bench"

out="$(mktemp -d)"
for i in $(seq 1 "$repeat"); do
    "$ours_bin" "$cards" "$ours_rounds" > "$out/ours-$i.json"
    NODE_NO_WARNINGS=1 node "$here/compare.mjs" "$cards" "$kbv_rounds" > "$out/kbv-$i.json"
done

python3 - "$out" "$repeat" <<'PY'
import json, statistics, sys, os
out, repeat = sys.argv[1], int(sys.argv[2])
load = lambda who: [json.load(open(os.path.join(out, f"{who}-{i}.json"))) for i in range(1, repeat + 1)]
ours, kbv = load("ours"), load("kbv")
o = statistics.median(r["us_per_card"] for r in ours)
k = statistics.median(r["us_per_card"] for r in kbv)
print(f"machine: {os.cpu_count()} cores; {repeat} interleaved runs each, medians")
print(f"{ours[0]['parser']:>24}: {o:10.1f} µs per card  ({ours[0]['cards']} cards a run)")
print(f"{kbv[0]['parser']:>24}: {k:10.1f} µs per card  ({kbv[0]['cards']} cards a run)")
print(f"ratio: oegd-fhir is {k / o:.1f}× faster")
vo, vk = ours[0]["verdicts"], kbv[0]["verdicts"]
agree = [f for f in vo if vo[f] == vk.get(f)]
differ = [f for f in vo if vo[f] != vk.get(f)]
print(f"verdicts agree on {len(agree)} of {len(vo)} files")
for f in differ:
    print(f"  differs: {f}: oegd-fhir {'valid' if vo[f] else 'refused'}, KBV parser {'valid' if vk.get(f) else 'refused'}")
json.dump({"us_per_card_ours": o, "us_per_card_kbv": k, "ratio": k / o, "agree": len(agree),
           "files": len(vo), "differ": differ}, open(os.path.join(out, "summary.json"), "w"))
PY
echo "raw results: $out"
