#!/usr/bin/env bash
# reset= command of our target in the shared Orthanc harness (../shared/bench/orthanc-baseline.sh): stops our platform,
# empties its storage (PGlite + blobs under OURS_DATA_DIR, or the schema of OURS_DATABASE_URL), keeps its dev signing
# key (so the harness's bearer token stays valid), starts it again and waits until HTTP and DICOM answer.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIR=${OURS_DATA_DIR:-/tmp/bench-ours}
HTTP_PORT=${OURS_HTTP_PORT:-8090}
DICOM_PORT=${OURS_DICOM_PORT:-11112}
mkdir -p "$DIR"
if [[ -f $DIR/platform.pid ]]; then
  pid=$(cat "$DIR/platform.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
fi
rm -rf "$DIR/pglite" "$DIR/blobs"
if [[ -n ${OURS_DATABASE_URL:-} ]]; then
  psql -q "$OURS_DATABASE_URL" -c 'DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public' >/dev/null
fi
AES='[{"aeTitle":"STORESCU","host":"127.0.0.1","operations":["echo","store","find"]},{"aeTitle":"BENCHSCU","host":"127.0.0.1","operations":["echo","store","find"]}]'
cd "$ROOT"
DATA_DIR=$DIR HTTP_PORT=$HTTP_PORT DICOM_PORT=$DICOM_PORT DICOM_KNOWN_AES=$AES AUTH_DEV_ISSUER=true LOG_LEVEL=${OURS_LOG_LEVEL:-warn} \
  DATABASE_URL=${OURS_DATABASE_URL:-} DICOM_MAX_ASSOCIATIONS=8 \
  setsid nohup node --import tsx src/main.ts >> "$DIR/platform.log" 2>&1 < /dev/null &
echo $! > "$DIR/platform.pid"
for _ in $(seq 1 300); do
  if curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && echoscu -aet STORESCU -aec TELEO 127.0.0.1 "$DICOM_PORT" >/dev/null 2>&1; then exit 0; fi
  sleep 0.2
done
echo "our platform did not start; see $DIR/platform.log" >&2
exit 1
