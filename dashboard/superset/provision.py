"""Import tickplant's Superset bundle; runs with Superset's own Python (var/venvs/superset), not
tickplant's. Overwrites by UUID (a second run creates nothing new), points each chart's saved
query context at its dataset, and keeps the admin password equal to the configured one.

usage: SUPERSET_CONFIG_PATH=... TICKPLANT_SUPERSET_ADMIN=admin TICKPLANT_SUPERSET_PASSWORD=...
       python provision.py bundle.zip
"""

from __future__ import annotations

import json
import os
import sys
from uuid import UUID
from zipfile import ZipFile

import yaml


def main(bundle_path: str) -> int:
    from flask import g
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import db, security_manager
        from superset.commands.dashboard.importers.dispatcher import ImportDashboardsCommand
        from superset.commands.importers.v1.utils import get_contents_from_bundle
        from superset.models.slice import Slice

        username = os.environ["TICKPLANT_SUPERSET_ADMIN"]
        password = os.environ["TICKPLANT_SUPERSET_PASSWORD"]
        user = security_manager.find_user(username=username)
        if user is None:
            print(f"no Superset user {username!r}: the metadata database was not initialised", file=sys.stderr)
            return 1
        if security_manager.auth_user_db(username, password) is None:
            security_manager.reset_password(user.id, password)
        g.user = user
        with ZipFile(bundle_path) as bundle:
            contents = get_contents_from_bundle(bundle)
        ImportDashboardsCommand(contents, overwrite=True).run()

        chart_uuids = [UUID(yaml.safe_load(text)["uuid"]) for name, text in contents.items()
                       if "/charts/" in name]
        fixed = 0
        for chart in db.session.query(Slice).filter(Slice.uuid.in_(chart_uuids)).all():
            context = json.loads(chart.query_context or "{}")
            if context:
                context["datasource"] = {"id": chart.datasource_id, "type": chart.datasource_type}
                context["form_data"] = {**json.loads(chart.params or "{}"), "slice_id": chart.id}
                chart.query_context = json.dumps(context)
                fixed += 1
        db.session.commit()
        print(json.dumps({"imported": sorted(contents), "query_contexts": fixed}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
