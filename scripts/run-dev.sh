#!/usr/bin/env bash
# `make run`: local broker (unless BRIDGE_KAFKA_BOOTSTRAP_SERVERS is set), a dev
# token kept in .cache/dev-token, and the bridge in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
mkdir -p .cache

if [[ -z "${BRIDGE_KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  "$BIN/python" deploy/kafka/kafkactl.py up
  export BRIDGE_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092
  "$BIN/python" scripts/create_topics.py --bootstrap "$BRIDGE_KAFKA_BOOTSTRAP_SERVERS" \
    "${BRIDGE_TOPIC:-kyc.events.v1}:3" "${BRIDGE_DLQ_TOPIC:-kyc.events.dlq.v1}:1"
fi
if [[ -z "${BRIDGE_AUTH_TOKENS:-}" ]]; then
  [[ -s .cache/dev-token ]] || "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(24))' > .cache/dev-token
  BRIDGE_AUTH_TOKENS=$(cat .cache/dev-token)
  export BRIDGE_AUTH_TOKENS
fi
export BRIDGE_SPOOL_DIR=${BRIDGE_SPOOL_DIR:-.cache/dev-spool}
export BRIDGE_LOG_LEVEL=${BRIDGE_LOG_LEVEL:-INFO}
port=${BRIDGE_HTTP_PORT:-8080}
token=${BRIDGE_AUTH_TOKENS%%,*}

cat <<MSG

  kyc-bridge (dev) on http://127.0.0.1:${port}
  Kafka:       ${BRIDGE_KAFKA_BOOTSTRAP_SERVERS}   topic: ${BRIDGE_TOPIC:-kyc.events.v1}
  Webhook URL: http://127.0.0.1:${port}/webhooks/argos/<token in .cache/dev-token>

  Try it (in another terminal):
    curl -sS -X POST -H 'Content-Type: application/json' \\
      -H "Authorization: Bearer \$(cat .cache/dev-token)" \\
      --data @scripts/sample-webhook.json http://127.0.0.1:${port}/webhooks/argos

  Read it back:
    $BIN/python scripts/consume.py --bootstrap ${BRIDGE_KAFKA_BOOTSTRAP_SERVERS} --topic ${BRIDGE_TOPIC:-kyc.events.v1}

MSG
exec "$BIN/kyc-bridge" serve
