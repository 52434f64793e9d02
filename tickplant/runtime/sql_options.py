"""Where the SQL engine (Trino) and Superset run and with which credentials: the options both read,
which are the settings' SQL view (`settings.sql`, core.settings_views.SqlSettings)."""

from __future__ import annotations

from core.settings_views import SqlSettings

SqlOptions = SqlSettings
