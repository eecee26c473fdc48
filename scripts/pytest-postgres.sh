#!/usr/bin/env bash
# Runs the suite again on PostgreSQL. Skipped (loudly) when no server answers, except in CI,
# where PostgreSQL is required.
set -euo pipefail
url="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
if ! .venv/bin/python - "$url" <<'PY'
import sys, psycopg
try:
    psycopg.connect(sys.argv[1], connect_timeout=5).close()
except Exception as exc:
    print(f"PostgreSQL not reachable at {sys.argv[1]}: {exc}", file=sys.stderr)
    sys.exit(1)
PY
then
  if [ "${CI:-}" = "true" ]; then
    echo "CI=true: PostgreSQL is required" >&2
    exit 1
  fi
  echo "SKIPPED: the PostgreSQL run (no server); set TEST_DATABASE_URL" >&2
  exit 0
fi
echo "== pytest on PostgreSQL ($url)"
DATABASE_URL="$url" exec .venv/bin/pytest -p no:cacheprovider -q
