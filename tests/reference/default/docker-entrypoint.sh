#!/bin/sh
# The image's entry point: it gives Prefect a home, then runs the command it is given
# (`python workflow/flow.py`, or what a worker or `docker run IMAGE ...` asks for).
# PREFECT_HOME lies under /tmp, writable even when the root filesystem is read-only. When it holds
# no database yet, the one the build migrated is copied in, and Prefect is told that it needs
# neither a migration check nor its block types registered. A value you set yourself wins.
set -e
if [ ! -e "$PREFECT_HOME/prefect.db" ]; then
  mkdir -p "$PREFECT_HOME"
  cp -R /opt/prefect-home/. "$PREFECT_HOME/"
  if [ -z "${PREFECT_API_DATABASE_MIGRATE_ON_START}${PREFECT_SERVER_DATABASE_MIGRATE_ON_START}" ]; then
    export PREFECT_API_DATABASE_MIGRATE_ON_START=false
  fi
  if [ -z "${PREFECT_API_BLOCKS_REGISTER_ON_START}${PREFECT_SERVER_REGISTER_BLOCKS_ON_START}" ]; then
    export PREFECT_API_BLOCKS_REGISTER_ON_START=false
  fi
fi
exec "$@"
