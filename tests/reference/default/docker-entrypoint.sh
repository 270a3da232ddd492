#!/bin/sh
# The image's entry point: prepares Prefect's home, then runs the command it is given
# (`python workflow/flow.py` by default; a worker or `docker run IMAGE ...` gives another).
#
# PREFECT_HOME lies under /tmp, which stays writable when the root filesystem is read-only
# (`docker run --read-only --tmpfs /tmp ...`, or an emptyDir on /tmp in Kubernetes). It starts
# empty there, so the database that the image migrated at build time is copied into it: Prefect's
# temporary server then starts without migrating a new database. A home that already holds a
# database (a volume, say) is left as it is, and migrated as usual.
#
# A copied database is exactly the one the image's own Prefect migrated, so that server is also
# told to skip the migration check and the registration of Prefect's block types, which take a
# second or two of every start. (A block the flow saves registers its own type; a value you set
# yourself wins.)
set -e
if [ -d /opt/prefect-home ] && [ ! -e "$PREFECT_HOME/prefect.db" ]; then
  mkdir -p "$PREFECT_HOME"
  cp -R /opt/prefect-home/. "$PREFECT_HOME/"
  export PREFECT_API_DATABASE_MIGRATE_ON_START="${PREFECT_API_DATABASE_MIGRATE_ON_START:-false}"
  export PREFECT_API_BLOCKS_REGISTER_ON_START="${PREFECT_API_BLOCKS_REGISTER_ON_START:-false}"
fi

# The image's own command with no Prefect API configured (`docker run IMAGE` alone): Prefect would
# start a temporary API server for the run, in a process of its own, but only after the flow's
# process had imported all of the server's code just to launch it (about 2 s). The entry point
# starts that same server (the command and settings of Prefect's SubprocessASGIServer) and waits
# for it, so the flow's process imports only Prefect's client. Anything that could name another
# API (a profile, prefect.toml, .env, [tool.prefect] in pyproject.toml) leaves it all to Prefect.
if [ "$*" = "python workflow/flow.py" ] && [ -z "${PREFECT_API_URL:-}" ] \
   && [ ! -e "$PREFECT_HOME/profiles.toml" ] && [ ! -e prefect.toml ] && [ ! -e .env ] \
   && ! grep -qs '^\[tool\.prefect' pyproject.toml \
   && ! printf %s "${PREFECT_SERVER_ALLOW_EPHEMERAL_MODE:-true}" | grep -qiE '^(false|0|no|off)$'; then
  port=$(python -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
  echo "Starting Prefect's temporary server on http://127.0.0.1:$port (PREFECT_API_URL is not set)" >&2
  PREFECT_UI_ENABLED=0 PREFECT__SERVER_EPHEMERAL=1 PREFECT__SERVER_FINAL=1 \
    python -m uvicorn --factory prefect.server.api.server:create_app --host 127.0.0.1 \
      --port "$port" --log-level error --lifespan on &
  export PREFECT_API_URL="http://127.0.0.1:$port/api"
  python -c "
import sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        urllib.request.urlopen(sys.argv[1] + '/health', timeout=5).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit('ERROR: Prefect\'s temporary server did not answer on ' + sys.argv[1] + ' within '
                     + sys.argv[2] + ' s (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS).')
        time.sleep(0.1)
" "$PREFECT_API_URL" "${PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS:-20}"
fi
# exec: the command becomes PID 1 and receives `docker stop`'s signal itself.
exec "$@"
