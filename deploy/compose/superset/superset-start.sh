#!/bin/sh
# Superset in the compose stack: migrate its metadata DB, create the admin (password from the
# environment), then serve. SUPERSET_SECRET_KEY comes from the environment too.
set -e
superset db upgrade
superset fab create-admin --username admin --firstname admin --lastname admin \
    --email admin@localhost --password "$SUPERSET_ADMIN_PASSWORD" || true
superset init
exec gunicorn --bind 0.0.0.0:8088 --workers 2 --timeout 120 "superset.app:create_app()"
