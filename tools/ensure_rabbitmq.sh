#!/usr/bin/env bash
# Make sure the machine's RabbitMQ answers on 127.0.0.1:5672; start it if it does not.
set -euo pipefail
port_open() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if port_open; then exit 0; fi
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "RabbitMQ is not running on 127.0.0.1:5672 and rabbitmq-server is not installed." >&2
  echo "Install it (apt-get install rabbitmq-server) or set K1_AMQP_URL to a reachable broker." >&2
  exit 1
fi
echo "starting RabbitMQ (rabbitmq-server -detached)..."
rabbitmq-server -detached || true
for _ in $(seq 1 60); do
  if port_open && rabbitmqctl -q status >/dev/null 2>&1; then echo "RabbitMQ is up"; exit 0; fi
  sleep 1
done
echo "RabbitMQ did not come up within 60 s" >&2
exit 1
