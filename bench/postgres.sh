#!/usr/bin/env bash
# The intake benchmark against a gateway on PostgreSQL: a scratch database, a data directory
# made with `init --database-url`, the per-client rate limit switched off as oegd-bench does
# for the gateways it starts itself, `serve`, then `oegd-bench --target` with the remaining
# arguments; the server is stopped with SIGTERM and the scratch database dropped afterwards.
#
#   bench/postgres.sh [oegd-bench arguments...]
#   e.g. bench/postgres.sh --reports 2000 --clients 1,8,64 --mode keep-alive,new-connection --json
#
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and the release binaries
# (cargo build --release -p oegd-bench -p oegd-gateway). OEGD_PG (default
# postgres://postgres@127.0.0.1:5432) names the server.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${OEGD_BIN_DIR:-$root/target/release}"
pg="${OEGD_PG:-postgres://postgres@127.0.0.1:5432}"
db="oegd_bench_$$"
data="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
server=""
cleanup() {
    if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$data"
}
trap cleanup EXIT

psql -q "$pg/postgres" -c "CREATE DATABASE $db" >/dev/null
OEGD_LOG=warn "$bin/oegd-gateway" init --data "$data" --state MV --database-url "$pg/$db" >/dev/null
# [limits] requests_per_second = 0: measure the server, not the throttle
python3 - "$data/config.toml" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
if re.search(r"^\[limits\]", s, re.M):
    s = re.sub(r"(?m)^requests_per_second\s*=.*$", "", s)
    s = re.sub(r"(?m)^\[limits\]\s*$", "[limits]\nrequests_per_second = 0", s)
else:
    s += "\n[limits]\nrequests_per_second = 0\n"
open(p, "w").write(s)
PY
OEGD_LOG=warn "$bin/oegd-gateway" serve --data "$data" --api-listen "127.0.0.1:$port" --database-url "$pg/$db" >/dev/null &
server=$!
for _ in $(seq 1 300); do
    (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
"$bin/oegd-bench" --target "127.0.0.1:$port" --data "$data" --server-pid "$server" "$@"
