#!/usr/bin/env bash
# Throughput and latency of the ingest → broker → worker → database round trip, with wrk.
#   bash bench/run.sh embedded          # SQLite + embedded queue (the default)
#   bash bench/run.sh rabbitmq-postgres # RabbitMQ + PostgreSQL on this machine
# Env: DURATION (10s), CONNECTIONS (32), THREADS (2). Needs wrk, openssl, curl, psql.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-embedded}
duration=${DURATION:-10s}
connections=${CONNECTIONS:-32}
threads=${THREADS:-2}
cargo build --release --quiet
kefu=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/kefu
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# One session drives all the load: no per-session rate limit here.
export KEFU_HTTP_ADDR=127.0.0.1:$port RUST_LOG=warn KEFU_SESSION_RATE_PER_SEC=0
case "$backend" in
  embedded) export KEFU_DATABASE_URL="sqlite://$work/kefu.db?mode=rwc" ;;
  rabbitmq-postgres)
    db=kefu_bench_$$
    psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" postgres
    export KEFU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db
    export KEFU_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f KEFU_AMQP_PREFIX=kefu-bench-$$ ;;
  *) echo "unknown backend $backend" >&2; exit 2 ;;
esac
"$kefu" migrate
secret=$("$kefu" admin app create --identify com.example.bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
echo bench-pw | "$kefu" admin agent create --serv-id bench --password-stdin --app com.example.bench >/dev/null
(cd "$work" && exec "$kefu" serve) & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; [ -n "${db:-}" ] && psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" postgres; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "http://$KEFU_HTTP_ADDR/health" >/dev/null && break; sleep 0.1; done

session() {
  local ts body sig
  ts=$(date +%s%3N)
  body="{\"identify\":\"com.example.bench\",\"user_id\":\"$1\",\"user_name\":\"$1\"}"
  sig=$(printf '%s\n%s\n%s\n%s' "$ts" POST /v1/session/new "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/.*= //')
  curl -sf "http://$KEFU_HTTP_ADDR/v1/session/new?timestamp=$ts&signature=$sig" -H 'content-type: application/json' -d "$body" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["session"])'
}
user=$(session bench-user)
agent=$(session bench-device)
curl -sf "http://$KEFU_HTTP_ADDR/v1/serv/bind" -d "session=$agent&serv_id=bench&password=bench-pw" >/dev/null

echo "== $backend: POST /v1/question/new (synchronous: publish, confirm, apply, reply) =="
KEFU_BENCH_SESSION=$user wrk -t"$threads" -c"$connections" -d"$duration" --latency -s bench/post_question.lua \
  "http://$KEFU_HTTP_ADDR/v1/question/new"
echo "== $backend: GET /v1/question/list (num=20, read path) =="
wrk -t"$threads" -c"$connections" -d"$duration" --latency "http://$KEFU_HTTP_ADDR/v1/question/list?session=$agent&num=20"
