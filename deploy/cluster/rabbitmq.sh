#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this machine, beside (never touching) its own node:
# nodes kefu-rmq-1..3@<host> on AMQP ports 5701..5703, each with its own data
# directory under $KEFU_CLUSTER_DIR (default /var/tmp/kefu-rmq-cluster), run as the
# rabbitmq user (who holds the Erlang cookie).
#
#   deploy/cluster/rabbitmq.sh start        # start the three nodes and cluster them
#   deploy/cluster/rabbitmq.sh kill N       # SIGKILL node N (1-3)
#   deploy/cluster/rabbitmq.sh up N         # start node N again (it rejoins)
#   deploy/cluster/rabbitmq.sh stop N       # stop node N cleanly
#   deploy/cluster/rabbitmq.sh down         # stop all three and remove their data
#   deploy/cluster/rabbitmq.sh urls         # the KEFU_AMQP_URL naming all three
set -euo pipefail

dir=${KEFU_CLUSTER_DIR:-/var/tmp/kefu-rmq-cluster}
host=$(hostname -s)
port() { echo $((5700 + $1)); }
name() { echo "kefu-rmq-$1@$host"; }
ctl() { rabbitmqctl -q -n "$(name "$1")" "${@:2}"; }

start_node() {
  local n=$1 d="$dir/n$1"
  mkdir -p "$d/mnesia" "$d/log"
  printf 'listeners.tcp.default = %s\nloopback_users = none\n' "$(port "$n")" > "$d/rabbitmq.conf"
  echo '[].' > "$d/enabled_plugins"
  chown -R rabbitmq:rabbitmq "$d"
  runuser -u rabbitmq -- env RABBITMQ_NODENAME="$(name "$n")" RABBITMQ_NODE_PORT="$(port "$n")" \
    RABBITMQ_DIST_PORT=$((25700 + n)) RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" \
    RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" rabbitmq-server -detached
  for _ in $(seq 1 60); do
    ctl "$n" await_startup >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "rabbitmq.sh: node $n did not start (see $d/log)" >&2
  return 1
}

pid_of() { pgrep -u rabbitmq -f -- "-sname $(name "$1" | cut -d@ -f1)|$(name "$1")" | head -1; }

case "${1:-}" in
  start)
    for n in 1 2 3; do start_node "$n"; done
    for n in 2 3; do
      ctl "$n" stop_app >/dev/null 2>&1
      ctl "$n" reset >/dev/null 2>&1
      ctl "$n" join_cluster "$(name 1)" >/dev/null 2>&1
      ctl "$n" start_app >/dev/null 2>&1
    done
    ctl 1 cluster_status --formatter json | python3 -c 'import json,sys; s=json.load(sys.stdin); print("running:", " ".join(s["running_nodes"]))'
    ;;
  kill)
    pid=$(ctl "$2" eval 'list_to_integer(os:getpid()).' 2>/dev/null || true)
    [ -n "$pid" ] && kill -9 "$pid"
    ;;
  up) start_node "$2" ;;
  stop) ctl "$2" stop ;;
  down)
    for n in 1 2 3; do ctl "$n" stop >/dev/null 2>&1 || true; done
    rm -rf "$dir"
    ;;
  urls) echo "amqp://guest:guest@127.0.0.1:5701/%2f,amqp://guest:guest@127.0.0.1:5702/%2f,amqp://guest:guest@127.0.0.1:5703/%2f" ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
