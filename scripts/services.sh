#!/usr/bin/env bash
# Make sure every service the tests use is listening on loopback; start whichever is down and
# wait (with a deadline) until it accepts connections. Safe to run when all are already up.
set -uo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_service() {
  local name=$1 port=$2
  shift 2
  if port_open "$port"; then
    echo "services: $name is up on $port"
    return 0
  fi
  echo "services: $name is down on $port; starting it"
  "$@" || echo "services: starting $name returned $?"
}

wait_for() {
  local name=$1 port=$2 deadline=$((SECONDS + ${3:-90}))
  until port_open "$port"; do
    if ((SECONDS > deadline)); then
      echo "services: $name did not come up on $port" >&2
      return 1
    fi
    sleep 0.5
  done
}

start_service PostgreSQL 5432 bash -c 'pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start'
start_service MariaDB 3306 start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
start_service RabbitMQ 5672 rabbitmq-server -detached
start_service NATS 4222 start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
  -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
start_service Redis 6379 redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
start_service Mosquitto 1883 mosquitto -d -c /etc/mosquitto/mosquitto.conf

status=0
wait_for PostgreSQL 5432 60 || status=1
wait_for MariaDB 3306 60 || status=1
wait_for RabbitMQ 5672 120 || status=1
wait_for NATS 4222 30 || status=1
wait_for Redis 6379 30 || status=1
wait_for Mosquitto 1883 30 || echo "services: Mosquitto is not up (no test needs it yet)"
exit $status
