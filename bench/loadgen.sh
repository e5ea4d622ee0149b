#!/usr/bin/env bash
# Kefu on RabbitMQ + PostgreSQL (ingest and worker as separate processes) under
# kefu-bench, beside the raw ceilings of the same services, in one run.
#   bash bench/loadgen.sh
# Env: RATE (1000/s offered), SECONDS_EACH (10), USERS (100), and the usual
# KEFU_AMQP_URL / PostgreSQL on 127.0.0.1:5432 (trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${RATE:-1000}
seconds=${SECONDS_EACH:-10}
users=${USERS:-100}
cargo build --release --quiet -p kefu --bin kefu
cargo build --release --quiet -p kefu-bench
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
db=kefu_loadgen_$$
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" postgres
export KEFU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db
export KEFU_AMQP_URL=${KEFU_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f} KEFU_AMQP_PREFIX=kefu-loadgen-$$
export KEFU_HTTP_ADDR=127.0.0.1:$port RUST_LOG=warn KEFU_SESSION_RATE_PER_SEC=0 KEFU_APP_RATE_PER_SEC=0
"$target/kefu" migrate
secret=$("$target/kefu" admin app create --identify com.example.bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
(cd "$work" && exec "$target/kefu" ingest) & ingest=$!
(cd "$work" && KEFU_METRICS_ADDR= exec "$target/kefu" worker) & worker=$!
trap 'kill $ingest $worker 2>/dev/null; wait 2>/dev/null; psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" postgres; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://$KEFU_HTTP_ADDR/health" >/dev/null && break; sleep 0.1; done

echo "== ceilings ($seconds s each) =="
"$target/kefu-bench" ceilings --seconds "$seconds"
echo "== Kefu: question/new at $rate/s offered, $users users =="
load=(--url "http://$KEFU_HTTP_ADDR" --identify com.example.bench --secret "$secret"
  --rate "$rate" --seconds "$seconds" --users "$users" --pid "$ingest" --pid "$worker")
"$target/kefu-bench" question-new "${load[@]}"
"$target/kefu-bench" question-new "${load[@]}" --async
