"""HTTP endpoints of notifications: my inbox, my devices, my notification settings; the deliveries,
for admins."""

from __future__ import annotations

from flask.views import MethodView

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal
from volunteer_app.extensions import Blueprint
from volunteer_app.notifications import deliveries, devices, inbox, preferences
from volunteer_app.notifications import schemas as s
from volunteer_app.pagination import page_schema

blp = Blueprint("notifications", __name__, url_prefix="/api/v1", description="Notifications and devices")

NotificationPage = page_schema(s.NotificationOut, "NotificationPage")
DeliveryPage = page_schema(s.DeliveryOut, "DeliveryPage")


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


@blp.route("/me/notification-settings")
class MyNotificationSettings(MethodView):
    @auth_required()
    @blp.response(200, s.NotificationSettingsOut)
    def get(self):
        """My notification settings: the channels I turned off per kind, my quiet hours (in my home
        site's time zone), and the kinds and channels I may turn off (security alerts always come)."""
        return preferences.get_settings(who=current_principal())

    @auth_required()
    @blp.arguments(s.NotificationSettingsIn)
    @blp.response(200, s.NotificationSettingsOut)
    def put(self, data):
        """Set my notification settings whole: `opt_out` (kind → channels) and `quiet_hours`."""
        return preferences.update_settings(who=current_principal(), replace=True, **data)

    @auth_required()
    @blp.arguments(s.NotificationSettingsPatch)
    @blp.response(200, s.NotificationSettingsOut)
    def patch(self, data):
        """Change some: the kinds named in `opt_out` are set (the others kept); `quiet_hours` if given."""
        return preferences.update_settings(
            who=current_principal(),
            replace=False,
            opt_out=data.get("opt_out"),
            quiet_hours=data.get("quiet_hours"),
        )


@blp.route("/admin/notifications/deliveries")
class Deliveries(MethodView):
    @auth_required("admin")
    @blp.arguments(s.DeliveryListArgs, location="query")
    @blp.response(200, DeliveryPage)
    def get(self, args):
        """The outbox, newest first: each delivery's channel, masked target, status, attempts and the
        provider's last error; filter by user, channel, status."""
        return deliveries.list_deliveries(**args)


@blp.route("/admin/notifications/<int:notification_id>/deliveries")
class NotificationDeliveries(MethodView):
    @auth_required("admin")
    @blp.arguments(s.PageArgs, location="query")
    @blp.response(200, DeliveryPage)
    def get(self, args, notification_id):
        """One notification's deliveries (by channel and target), newest first."""
        return deliveries.notification_deliveries(notification_id=notification_id, **args)
