#!/usr/bin/env bash
# Side by side with Orthanc, same data, same client, one run: drives the shared harness
# (../shared/bench/orthanc-baseline.sh: C-STORE, STOW-RS, QIDO-RS, WADO-RS) against Orthanc (TCP_NODELAY, the fair
# anchor) and our platform, restarted on empty storage before each clean-storage measurement (orthanc/ours-reset.sh).
# Usage: bench/orthanc-compare.sh [harness options, e.g. --runs 3 --only cstore,stow]
# Env: OURS_DATABASE_URL (PostgreSQL instead of PGlite), OURS_DATA_DIR, OURS_HTTP_PORT, OURS_DICOM_PORT.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARED=${SHARED_BENCH:-$HERE/../../shared/bench}
[[ -f $SHARED/orthanc-baseline.sh ]] || { echo "the shared harness is missing: $SHARED/orthanc-baseline.sh" >&2; exit 2; }
export OURS_DATA_DIR=${OURS_DATA_DIR:-/tmp/bench-ours} OURS_HTTP_PORT=${OURS_HTTP_PORT:-8090} OURS_DICOM_PORT=${OURS_DICOM_PORT:-11112}
stop_ours() { [[ -f $OURS_DATA_DIR/platform.pid ]] && kill "$(cat "$OURS_DATA_DIR/platform.pid")" 2>/dev/null || true; }
trap stop_ours EXIT
bash "$HERE/orthanc/ours-reset.sh"   # first start creates the dev signing key the token is signed with
DICOMWEB_BEARER=$(cd "$HERE/.." && DATA_DIR=$OURS_DATA_DIR node --import tsx src/cli/dev-token.ts --fhir-user Device/bench --scope 'system/*.cruds')
export DICOMWEB_BEARER
engine=${OURS_DATABASE_URL:+postgresql}
bash "$SHARED/orthanc-baseline.sh" --target orthanc-nodelay \
  --target "name=ours-${engine:-pglite},host=127.0.0.1,port=$OURS_DICOM_PORT,aet=TELEO,scu=STORESCU,url=http://127.0.0.1:$OURS_HTTP_PORT/dicomweb,reset=bash $HERE/orthanc/ours-reset.sh" "$@"
