#!/usr/bin/env bash
# Times GET /v1/question/<id>/position with 100,000 waiting questions of one app on
# PostgreSQL (worst case: the newest question, position 100,000), and prints the plans of
# its two counts. Beside the waiting ones the table holds FINISHED (default 400,000)
# finished questions, as a live table does. Usage: bash bench/position.sh [N [FINISHED]]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
FINISHED=${2:-400000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/kefu-ci-target}"
cargo build --release -q
KEFU="$CARGO_TARGET_DIR/release/kefu"
DB=kefu_bench_position
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" postgres
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $DB" postgres
export KEFU_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
export KEFU_HTTP_ADDR=127.0.0.1:18089 RUST_LOG=warn KEFU_SESSION_RATE_PER_SEC=0
$KEFU migrate
$KEFU admin app create --identify com.example.bench >/dev/null
psql -q -h 127.0.0.1 -U postgres "$DB" <<SQL  # VACUUM: the visibility map lets the counts read the index alone, as autovacuum would
INSERT INTO users (app_id, user_id, user_name, created_at, updated_at) VALUES (1, 'u', 'U', 0, 0);
INSERT INTO sessions (session, app_id, user_id, created_at, expires_at) VALUES ('BenchSession', 1, 'u', 0, 9999999999999);
INSERT INTO questions (id, app_id, user_id, title, labels, status, created_at, updated_at)
  SELECT lpad(to_hex(i), 24, '0'), 1, 'u', '', '[]', 1, i, i FROM generate_series(1, $N) AS i;
INSERT INTO questions (id, app_id, user_id, title, labels, status, created_at, updated_at)
  SELECT lpad(to_hex(i), 24, '0'), 1, 'u', '', '[]', 3, i, i FROM generate_series($N + 1, $N + $FINISHED) AS i;
VACUUM ANALYZE questions;
SQL
LAST=$(printf '%024x' "$N")
echo "plans:"
psql -h 127.0.0.1 -U postgres "$DB" -c "EXPLAIN ANALYZE SELECT COUNT(CASE WHEN id <= '$LAST' THEN 1 END), COUNT(id) FROM questions WHERE status = 1 AND app_id = 1" | grep -E "Scan|Execution"
$KEFU serve & PID=$!
trap 'kill $PID 2>/dev/null; psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" postgres' EXIT
for _ in $(seq 1 50); do curl -sf "http://$KEFU_HTTP_ADDR/health" >/dev/null && break; sleep 0.2; done
URL="http://$KEFU_HTTP_ADDR/v1/question/$LAST/position?session=BenchSession"
curl -s "$URL"; echo
for _ in 1 2 3; do curl -s -o /dev/null "$URL"; done
echo "20 requests, seconds each:"
for _ in $(seq 1 20); do curl -s -o /dev/null -w '%{time_total}\n' "$URL"; done | sort -n | awk '{a[NR]=$1} END {print "min", a[1], "p50", a[int(NR/2)], "max", a[NR]}'
