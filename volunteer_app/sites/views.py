"""HTTP endpoints of the sites domain: the site tree, site settings, teams and the catalogue."""

from __future__ import annotations

from flask.views import MethodView

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal
from volunteer_app.extensions import Blueprint
from volunteer_app.pagination import page_schema
from volunteer_app.sites import schemas as s
from volunteer_app.sites import service

blp = Blueprint("sites", __name__, url_prefix="/api/v1", description="Site tree, teams and the catalogue")

SitePage = page_schema(s.SiteOut, "SitePage")
TeamPage = page_schema(s.TeamOut, "TeamPage")
CategoryPage = page_schema(s.CategoryOut, "CategoryPage")


@blp.route("/sites")
class Sites(MethodView):
    @blp.arguments(s.SiteListArgs, location="query")
    @blp.response(200, SitePage)
    def get(self, args):
        """List sites (public: residents pick their home station here)."""
        return service.list_sites(**args)

    @auth_required("admin")
    @blp.arguments(s.SiteIn)
    @blp.response(201, s.SiteOut)
    def post(self, data):
        """Create a center, institute or station."""
        return service.create_site(**data)


@blp.route("/sites/<int:site_id>")
class SiteDetail(MethodView):
    @blp.response(200, s.SiteOut)
    def get(self, site_id):
        """One site's public information."""
        return service.get_site(site_id)


@blp.route("/sites/<int:site_id>/settings")
class SiteSettings(MethodView):
    @auth_required("manager", "admin")
    @blp.response(200, s.SettingsOut)
    def get(self, site_id):
        """A site's overrides and effective settings."""
        return service.get_settings(who=current_principal(), site_id=site_id)

    @auth_required("manager", "admin")
    @blp.arguments(s.SettingsValues, required=False)  # every field optional
    @blp.response(200, s.SettingsOut)
    def patch(self, data, site_id):
        """Override settings for this site and those below it; null removes an override."""
        changes = {k: v for k, v in data.items() if v is not None}
        remove = [k for k, v in data.items() if v is None]
        return service.update_settings(
            who=current_principal(), site_id=site_id, changes=changes, remove=remove
        )


@blp.route("/sites/<int:site_id>/teams")
class SiteTeams(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.TeamListArgs, location="query")
    @blp.response(200, TeamPage)
    def get(self, args, site_id):
        """Teams owned by a site (`subtree=true`: and by the sites below it)."""
        return service.list_teams(who=current_principal(), site_id=site_id, **args)

    @auth_required("manager", "admin")
    @blp.arguments(s.TeamIn)
    @blp.response(201, s.TeamOut)
    def post(self, data, site_id):
        """Create a team (may nest under a team of this site or above)."""
        return service.create_team(who=current_principal(), site_id=site_id, **data)


@blp.route("/teams/<int:team_id>")
class TeamDetail(MethodView):
    @auth_required("manager", "admin")
    @blp.response(200, s.TeamOut)
    def get(self, team_id):
        """One team."""
        return service.get_team(who=current_principal(), team_id=team_id)


@blp.route("/categories")
class Categories(MethodView):
    @blp.arguments(s.CategoryListArgs, location="query")
    @blp.response(200, CategoryPage)
    def get(self, args):
        """The service catalogue (public), in display order."""
        return service.categories_page(**args)

    @auth_required("admin")
    @blp.arguments(s.CategoryIn)
    @blp.response(201, s.CategoryOut)
    def post(self, data):
        """Add a service category."""
        return service.create_category(**data)


@blp.route("/categories/<int:category_id>")
class CategoryDetail(MethodView):
    @auth_required("admin")
    @blp.arguments(s.CategoryPatch, required=False)  # every field optional
    @blp.response(200, s.CategoryOut)
    def patch(self, data, category_id):
        """Rename, reorder or (de)activate a category."""
        return service.update_category(category_id=category_id, changes=data)
