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
# exec: the command becomes PID 1 and receives `docker stop`'s signal itself.
exec "$@"
