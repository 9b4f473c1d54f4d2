#!/usr/bin/env bash
# `make run`: the bridge in the foreground with development settings.
#
# Kafka: your own cluster when BRIDGE_KAFKA_BOOTSTRAP_SERVERS is set (then neither Java nor
# Maven is needed, and the topics must exist: README "Your own Kafka cluster"); otherwise
# the local dev broker (deploy/kafka/kafkactl.py up) with the topics created. A dev broker
# started here is stopped again when the bridge exits (Ctrl-C); one that was already running
# (`make kafka-up`) is left running.
#
# Listens on 127.0.0.1 unless BRIDGE_HTTP_HOST says otherwise; a dev token is kept in
# .cache/dev-token. The settings used are written to .cache/dev.env (no secrets) for the
# CLI in another terminal. KYC_DEV_DIR moves .cache (tests, a second instance);
# KAFKACTL_DEV_PORT / KAFKACTL_DEV_WORKDIR move the dev broker.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
DEV_DIR=${KYC_DEV_DIR:-.cache}  # as shown in messages
mkdir -p "$DEV_DIR"
dev_abs=$(cd "$DEV_DIR" && pwd)  # as written into settings
kafkactl() { "$BIN/python" deploy/kafka/kafkactl.py "$@"; }
say() { echo "run-dev: $*" >&2; }

# ---- Kafka
stop_broker=false
on_exit() {
  if [[ $stop_broker == true ]]; then
    say "stopping the dev broker this run started"
    kafkactl down || true
  else
    say "the dev broker keeps running (it was started before); stop it with: make kafka-down"
  fi
}
if [[ -n ${BRIDGE_KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
  say "using your Kafka cluster at $BRIDGE_KAFKA_BOOTSTRAP_SERVERS (no local broker)"
else
  if ! kafkactl status >/dev/null 2>&1; then
    stop_broker=true
  fi
  trap on_exit EXIT
  trap 'exit 0' INT  # Ctrl-C is how a dev run ends: not an error
  trap 'exit 143' TERM
  BRIDGE_KAFKA_BOOTSTRAP_SERVERS=$(kafkactl up)
  export BRIDGE_KAFKA_BOOTSTRAP_SERVERS
  "$BIN/python" scripts/create_topics.py --bootstrap "$BRIDGE_KAFKA_BOOTSTRAP_SERVERS" \
    "${BRIDGE_TOPIC:-kyc.events.v1}:3" "${BRIDGE_DLQ_TOPIC:-kyc.events.dlq.v1}:1"
fi

# ---- the bridge's settings
token='<your token>' token_where='your BRIDGE_AUTH_TOKENS'
if [[ -z ${BRIDGE_AUTH_TOKENS:-} && -z ${BRIDGE_AUTH_TOKENS_FILE:-} ]]; then
  token="\$(cat $DEV_DIR/dev-token)" token_where=$DEV_DIR/dev-token
  if [[ ! -s $DEV_DIR/dev-token ]]; then
    (umask 077 && "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(24))' >"$DEV_DIR/dev-token")
  fi
  export BRIDGE_AUTH_TOKENS_FILE=$dev_abs/dev-token
fi
spool=${BRIDGE_SPOOL_DIR:-$dev_abs/dev-spool}
[[ $spool == /* ]] || spool=$PWD/$spool
export BRIDGE_SPOOL_DIR=$spool
export BRIDGE_TOPIC=${BRIDGE_TOPIC:-kyc.events.v1}
export BRIDGE_DLQ_TOPIC=${BRIDGE_DLQ_TOPIC:-kyc.events.dlq.v1}
export BRIDGE_HTTP_HOST=${BRIDGE_HTTP_HOST:-127.0.0.1}
export BRIDGE_HTTP_PORT=${BRIDGE_HTTP_PORT:-8080}
export BRIDGE_LOG_LEVEL=${BRIDGE_LOG_LEVEL:-INFO}

# ---- .cache/dev.env: what the CLI in another terminal needs (paths and names, no secrets)
{
  echo "# Written by scripts/run-dev.sh (make run). Secrets are not in here: the webhook"
  echo "# token is in $DEV_DIR/dev-token, a Kafka password stays where you keep it."
  for name in BRIDGE_SPOOL_DIR BRIDGE_KAFKA_BOOTSTRAP_SERVERS BRIDGE_TOPIC BRIDGE_DLQ_TOPIC \
    BRIDGE_HTTP_HOST BRIDGE_HTTP_PORT BRIDGE_KAFKA_SECURITY_PROTOCOL BRIDGE_KAFKA_SASL_MECHANISM \
    BRIDGE_KAFKA_SASL_USERNAME BRIDGE_KAFKA_SASL_PASSWORD_FILE BRIDGE_KAFKA_SSL_CAFILE \
    BRIDGE_KAFKA_SSL_CERTFILE BRIDGE_KAFKA_SSL_KEYFILE BRIDGE_KAFKA_SSL_CHECK_HOSTNAME; do
    if [[ -n ${!name:-} ]]; then
      printf 'export %s=%q\n' "$name" "${!name}"
    fi
  done
} >"$DEV_DIR/dev.env"

host=$BRIDGE_HTTP_HOST
port=$BRIDGE_HTTP_PORT
if [[ $host == 0.0.0.0 || $host == :: ]]; then
  say "WARNING: listening on all interfaces ($host) with a development token"
  host=127.0.0.1
fi
url=http://$host:$port
cat <<MSG

  kyc-bridge (dev) on $url
  Kafka:       $BRIDGE_KAFKA_BOOTSTRAP_SERVERS   topic: $BRIDGE_TOPIC
  Webhook URL: $url/webhooks/argos/<token>   (token: $token_where)

  Try it (in another terminal):
    curl -sS -X POST -H 'Content-Type: application/json' \\
      -H "Authorization: Bearer $token" \\
      --data @scripts/sample-webhook.json $url/webhooks/argos

  Read it back:
    $BIN/python scripts/consume.py --bootstrap $BRIDGE_KAFKA_BOOTSTRAP_SERVERS --topic $BRIDGE_TOPIC

  The CLI, in another terminal: source $DEV_DIR/dev.env  then  $BIN/kyc-bridge spool status

MSG
# Not exec: the traps above stop the dev broker after the bridge has shut down.
"$BIN/kyc-bridge" serve
