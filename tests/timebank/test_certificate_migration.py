"""Migration 0018: certificates issued before it get their share token there (distinct, 128 bits), so
every certificate has a working share link and a read never writes."""

from __future__ import annotations

import re
from datetime import date, timedelta

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from tests.conftest import make_app
from tests.support import build_world, credit
from tests.test_migrations import throwaway_database
from volunteer_app.accounts.models import User
from volunteer_app.demo.world import principal
from volunteer_app.extensions import db
from volunteer_app.sites import service as sites
from volunteer_app.timebank import certificates

BEFORE = "0017_redemptions_by_site"
TEN_DAYS_AGO, YESTERDAY = date.today() - timedelta(days=10), date.today() - timedelta(days=1)


def test_certificates_issued_before_the_migration_get_a_share_token(tmp_path):
    with throwaway_database(tmp_path) as url:
        app = make_app(url)
        try:
            with app.app_context():
                upgrade()
                sites.ensure_catalogue()
            world = build_world(app)
            credit(app, world.vol_s1, world.sites["S1"], 90, day=date.today() - timedelta(days=3))
            with app.test_request_context():
                volunteer = principal(db.session.get(User, world.vol_s1.id))
                for _ in range(3):
                    certificates.issue_mine(
                        who=volunteer,
                        date_from=date.today() - timedelta(days=10),
                        date_to=date.today() - timedelta(days=1),
                    )
            with app.app_context():
                downgrade(revision=BEFORE)
                columns = {c["name"] for c in db.inspect(db.engine).get_columns("certificates")}
                assert "share_token" not in columns and "revoked_at" not in columns
                upgrade()
                tokens = db.session.execute(text("SELECT share_token FROM certificates")).scalars().all()
                db.session.remove()
            assert len(tokens) == len(set(tokens)) == 3
            assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", token) for token in tokens)
            client = app.test_client()
            for token in tokens:
                assert client.get(f"/c/{token}").status_code == 200
        finally:
            with app.app_context():
                db.engine.dispose()
