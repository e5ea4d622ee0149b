#!/usr/bin/env bash
# Throughput of 1, 2 and 3 workers against the three-node RabbitMQ cluster of
# deploy/cluster/rabbitmq.sh, on PostgreSQL: for each, a backlog of async question/new is
# accepted by one ingest with no worker running, then the workers start and drain it.
#   bash bench/cluster.sh            # BACKLOG_RATE (2000/s offered), SECONDS_EACH (5)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${BACKLOG_RATE:-2000}
seconds=${SECONDS_EACH:-5}
cargo build --release --quiet -p kefu --bin kefu
cargo build --release --quiet -p kefu-bench
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release
bash deploy/cluster/rabbitmq.sh down >/dev/null 2>&1 || true
bash deploy/cluster/rabbitmq.sh start
urls=$(bash deploy/cluster/rabbitmq.sh urls)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash deploy/cluster/rabbitmq.sh down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
for workers in 1 2 3; do
  db=kefu_cluster_bench_$$_$workers
  psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" postgres
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  export KEFU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db KEFU_AMQP_URL="$urls" KEFU_AMQP_PREFIX=kefu-cluster-bench-$$-$workers
  export KEFU_HTTP_ADDR=127.0.0.1:$port RUST_LOG=warn KEFU_SESSION_RATE_PER_SEC=0 KEFU_APP_RATE_PER_SEC=0 KEFU_METRICS_ADDR=
  "$target/kefu" migrate
  secret=$("$target/kefu" admin app create --identify com.example.bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
  (cd "$work" && exec "$target/kefu" ingest) & ingest=$!
  pids+=("$ingest")
  for _ in $(seq 100); do curl -sf "http://$KEFU_HTTP_ADDR/health" >/dev/null && break; sleep 0.1; done
  # Sessions open through a worker; it stops before the load.
  (cd "$work" && exec "$target/kefu" worker) & opener=$!
  "$target/kefu-bench" question-new --url "http://$KEFU_HTTP_ADDR" --identify com.example.bench --secret "$secret" \
    --rate "$rate" --seconds "$seconds" --users 100 --pid "$ingest" --async --stop-before-load "$opener" >/dev/null
  kill -9 "$opener"; wait "$opener" 2>/dev/null || true
  "$target/kefu-bench" drain --database-url "$KEFU_DATABASE_URL" --more $((rate * seconds)) --idle-secs 5 > "$work/drain.txt" & drainer=$!
  sleep 1
  started=()
  for _ in $(seq "$workers"); do (cd "$work" && exec "$target/kefu" worker) & started+=($!); pids+=($!); done
  wait "$drainer" || true
  echo "cluster, $workers worker(s): $(grep 'drain:' "$work/drain.txt")"
  for p in "${started[@]}" "$ingest"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" postgres
done
