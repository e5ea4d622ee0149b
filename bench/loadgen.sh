#!/usr/bin/env bash
# Kefu on RabbitMQ + PostgreSQL (ingest and worker as separate processes) under
# kefu-bench, beside the raw ceilings of the same services, in one run.
#   bash bench/loadgen.sh             # RabbitMQ + PostgreSQL
#   bash bench/loadgen.sh embedded    # the embedded default: SQLite, the queue in it
# Env: RATE (1000/s offered), BACKLOG_RATE (3000/s offered with the worker stopped),
# SECONDS_EACH (10), USERS (100), and the usual
# KEFU_AMQP_URL / PostgreSQL on 127.0.0.1:5432 (trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${RATE:-1000}
seconds=${SECONDS_EACH:-10}
users=${USERS:-100}
backlog_rate=${BACKLOG_RATE:-3000}
cargo build --release --quiet -p kefu --bin kefu
cargo build --release --quiet -p kefu-bench
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
backend=${1:-rabbitmq-postgres}
db=kefu_loadgen_$$
case "$backend" in
  rabbitmq-postgres)
    psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" postgres
    export KEFU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db
    export KEFU_AMQP_URL=${KEFU_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f} KEFU_AMQP_PREFIX=kefu-loadgen-$$ ;;
  embedded)
    db=
    export KEFU_DATABASE_URL="sqlite://$work/kefu.db?mode=rwc"
    unset KEFU_AMQP_URL ;;
  *) echo "unknown backend $backend (rabbitmq-postgres or embedded)" >&2; exit 2 ;;
esac
export KEFU_HTTP_ADDR=127.0.0.1:$port RUST_LOG=warn KEFU_SESSION_RATE_PER_SEC=0 KEFU_APP_RATE_PER_SEC=0
"$target/kefu" migrate
secret=$("$target/kefu" admin app create --identify com.example.bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
if [ "$backend" = embedded ]; then
  # The embedded default is one process: `kefu serve` (SQLite has one writer).
  (cd "$work" && exec "$target/kefu" serve) & ingest=$!
  worker=$ingest
else
  (cd "$work" && exec "$target/kefu" ingest) & ingest=$!
  (cd "$work" && KEFU_METRICS_ADDR= exec "$target/kefu" worker) & worker=$!
fi
trap 'kill -CONT $worker 2>/dev/null; kill $ingest $worker 2>/dev/null; wait 2>/dev/null; [ -n "$db" ] && psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" postgres; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://$KEFU_HTTP_ADDR/health" >/dev/null && break; sleep 0.1; done

if [ "$backend" = rabbitmq-postgres ]; then
  echo "== ceilings ($seconds s each) =="
  "$target/kefu-bench" ceilings --seconds "$seconds"
fi
echo "== Kefu on $backend =="
echo "== Kefu: question/new at $rate/s offered, $users users =="
load=(--url "http://$KEFU_HTTP_ADDR" --identify com.example.bench --secret "$secret"
  --rate "$rate" --seconds "$seconds" --users "$users" --pid "$ingest" --pid "$worker")
"$target/kefu-bench" question-new "${load[@]}"
"$target/kefu-bench" question-new "${load[@]}" --async
# Whatever the worker had not committed by the end of the async run (until 2 s pass
# without a commit: refused requests make fewer than offered).
"$target/kefu-bench" drain --database-url "$KEFU_DATABASE_URL" --expect $((2 * rate * seconds)) --idle-secs 2 --pid "$worker"
# The embedded default has no worker apart to stop.
[ "$backend" = embedded ] && exit 0
echo "== Kefu: a backlog accepted at $backlog_rate/s offered with the worker stopped, then drained by it =="
# The sessions open with the worker running; then it is frozen (SIGSTOP) for the load.
"$target/kefu-bench" question-new --url "http://$KEFU_HTTP_ADDR" --identify com.example.bench --secret "$secret" \
  --rate "$backlog_rate" --seconds "$seconds" --users "$users" --pid "$ingest" --async --stop-before-load "$worker"
"$target/kefu-bench" drain --database-url "$KEFU_DATABASE_URL" --more $((backlog_rate * seconds)) & drainer=$!
sleep 1 # the drainer has counted what is there before the worker resumes
kill -CONT "$worker"
wait "$drainer"
echo "rss      worker after the drain: $(( $(ps -o rss= -p "$worker") / 1024 )) MiB"
