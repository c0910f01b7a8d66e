"""HTTP endpoints of notifications: my inbox and my devices."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal
from volunteer_app.notifications import devices, inbox
from volunteer_app.notifications import schemas as s
from volunteer_app.pagination import page_schema

blp = Blueprint("notifications", __name__, url_prefix="/api/v1", description="Notifications and devices")

NotificationPage = page_schema(s.NotificationOut, "NotificationPage")


@blp.route("/me/notifications")
class MyNotifications(MethodView):
    @auth_required()
    @blp.arguments(s.NotificationListArgs, location="query")
    @blp.response(200, NotificationPage)
    def get(self, args):
        """My notifications, newest first; `unread=true` for the unread ones only."""
        return inbox.list_notifications(who=current_principal(), **args)


@blp.route("/me/notifications/read")
class ReadNotifications(MethodView):
    @auth_required()
    @blp.arguments(s.MarkReadIn)
    @blp.response(200, s.MarkReadOut)
    def post(self, data):
        """Mark my notifications read: the given ids (others' are ignored), or all of them."""
        updated = inbox.mark_read(who=current_principal(), ids=data["ids"], everything=data["all"])
        return {"updated": updated}


@blp.route("/me/devices")
class MyDevices(MethodView):
    @auth_required()
    @blp.arguments(s.DeviceIn)
    @blp.response(201, s.DeviceOut)
    def post(self, data):
        """Register this phone's push token (again: refreshes it, or moves it to me from its last user)."""
        return devices.register_device(who=current_principal(), **data)


@blp.route("/me/devices/<int:device_id>")
class MyDevice(MethodView):
    @auth_required()
    @blp.response(204)
    def delete(self, device_id):
        """Stop pushes to one of my devices (on logout)."""
        devices.remove_device(who=current_principal(), device_id=device_id)
