"""Examples that work on the demo data: request bodies, path ids and query values, with times relative
to the day the document is built.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from volunteer_app.demo.world import PASSWORD

# Values that work against the demo data (`./dev serve`, volunteer_app/demo/): station DEMO-ST-1 is
# site 4 at 30.2665,120.145 under institute 2; categories 1–12 (4 is elder care); demo volunteers are
# users 9–28 (phones 13700000001…), residents 29–33 (13600000001…); orders 3 and 4 are submitted,
# 1 and 2 open to grabbing; activities 1–9 are open at site 4; service-day rules 1–2; rewards 1–16;
# family link 1 is approved. Times are relative to the day the document is built (a service window
# may open at most 90 days ahead; a certificate covers days already past), written in UTC+8.


class Day:
    """A day relative to the document's build date, as an RFC 3339 time at `at` (UTC+8) or a date."""

    def __init__(self, days: int, at: str | None = None):
        self.days, self.at = days, at

    def render(self, today) -> str:
        day = today + timedelta(days=self.days)
        return day.isoformat() if self.at is None else f"{day.isoformat()}T{self.at}:00+08:00"


START = Day(7, "09:00")
END = Day(7, "11:00")
ADDRESS = "杭州市西湖区 宝石社区 3 幢 2 单元 301"
HERE = {"lat": 30.2668, "lng": 120.1452}

PATH_EXAMPLES: dict[str, Any] = {
    "site_id": 4,
    "order_id": 3,
    "assignment_id": 1,
    "activity_id": 1,
    "application_id": 1,
    "team_id": 1,
    "user_id": 9,
    "category_id": 4,
    "reward_id": 1,
    "link_id": 1,
    "certificate_id": 1,
    "device_id": 1,
    "notification_id": 1,
    "job_id": 1,
    "handover_id": 1,
    "rule_id": 1,
    "item_id": 1,
    "follow_up_id": 1,
    "complaint_id": 1,
    "appeal_id": 1,
    "code": "ABCD2345",
    # a sign-in's id comes from GET /auth/sessions (sessions are made at sign-in, so none is fixed)
    "session_id": "5f0c3a52-8b1e-4d8a-9c3e-2b7d4e6f8a10",
}

# Where one id suits a path better than the shared one (an order still open to grabbing, another one
# still submitted, an activity other than the one the cancel example uses).
PATH_EXAMPLES_BY_PATH: dict[str, dict[str, Any]] = {
    "/api/v1/orders/{order_id}/grab": {"order_id": 1},
    "/api/v1/orders/{order_id}/reject": {"order_id": 4},
    "/api/v1/activities/{activity_id}/signup": {"activity_id": 2},
    "/api/v1/activities/{activity_id}/signups": {"activity_id": 2},
}

QUERY_EXAMPLES: dict[str, Any] = {
    "limit": 20,
    "lat": 30.26,
    "lng": 120.14,
    "radius_m": 3000,
    "category_id": 4,
    "site_id": 4,
    "parent_id": 2,
    "kind": ("station", "days_of_month"),  # sites; a service-day rule's preview
    "q": "宝石",
    "month": "2026-11",
    "scope": "managed",
    # a service-day rule's preview
    "days": [5, 15, 25],
    "part_of_day": "afternoon",
    "start_time": "14:30",
    "end_time": "17:30",
    "count": 6,
}

# Where a query parameter's shared example does not suit a list (None: no example there): the roster's
# `q` is a person, not a site's name; its skill is one the demo volunteers have.
QUERY_EXAMPLES_BY_PATH: dict[str, dict[str, Any]] = {
    "/api/v1/sites/{site_id}/volunteers": {"q": None, "skill": "急救"},
}

BODY_EXAMPLES: dict[str, dict[str, Any]] = {
    "RegisterIn": {
        "phone": "13600000099",
        "password": "my-long-passphrase",
        "name": "居民六",
        "home_site_id": 4,
    },
    "LoginIn": {"phone": "13700000001", "password": PASSWORD},
    "SmsCodeIn": {"phone": "13600000001"},
    "SmsLoginIn": {"phone": "13600000001", "code": "123456"},
    "WechatLoginIn": {
        "code": "0a3Kx2Ga1bCdEf0Yz4Ia1Qh9Xa2Kx2Gi",
        "phone_code": "e31968a7f94cc5ee25fafc2aef2773f0bb8c3937",
    },
    "PasswordChangeIn": {"current_password": PASSWORD, "new_password": "a-new-long-passphrase"},
    "MePatch": {"name": "王伟", "home_site_id": 4},
    "ApplicationIn": {
        "real_name": "赵敏",
        "id_number": "11010519491231002X",
        "site_id": 4,
        "skills": ["陪伴聊天", "急救"],
        "category_ids": [4, 5],
    },
    "RejectIn": {"reason": "身份证号与姓名不符，请核对后重新申请"},
    "ManagerIn": {"user_id": 9},
    "IdNumberRevealIn": {"reason": "为其办理志愿者意外保险"},
    "IdNumberViewerIn": {"user_id": 3},
    "AccountCloseIn": {"password": "correct-horse-9"},
    "TeamMemberIn": {"user_id": 9, "leader": False},
    "SiteIn": {
        "kind": "station",
        "name": "曙光社区新时代文明实践站",
        "parent_id": 2,
        "code": "DEMO-ST-9",
        "address": "杭州市西湖区 曙光路 12 号",
        "lat": 30.2700,
        "lng": 120.1400,
    },
    "SettingsValues": {"checkin_radius_m": 300, "grab_window_minutes": 720},
    "TeamIn": {"name": "宝石社区助老服务队", "description": "上门探访独居老人"},
    "CategoryIn": {"code": "meal_delivery", "name_zh": "助餐送餐", "name_en": "Meal delivery", "sort": 12},
    "CategoryPatch": {"name_en": "Caring for the elderly", "sort": 3},
    "AdjustmentIn": {"user_id": 9, "minutes": 30, "reason": "补录 11 月 5 日社区义诊服务"},
    "RewardIn": {
        "kind": "goods",
        "title": "爱心超市 鸡蛋一盒",
        "description": "到爱心超市领取鸡蛋一盒（10 枚）",
        "price_minutes": 60,
        "stock": 30,
    },
    "RewardPatch": {"stock": 40},
    "RedeemIn": {"reward_id": 1},
    "FamilyLinkIn": {"relative_phone": "13600000002", "relation": "parent"},
    "LinkRejectIn": {"reason": "无法核实亲属关系"},
    "GiftIn": {"minutes": 30, "family_link_id": 1},
    "CertificateIn": {"date_from": Day(-120), "date_to": Day(-1)},
    "CertificateRevokeIn": {"reason": "日期范围填写有误，已重新开具"},
    "ExportIn": {"kind": "orders", "format": "xlsx", "from": Day(-30), "to": Day(0)},
    "OwnStatementIn": {"format": "xlsx", "from": Day(-90), "to": Day(0)},
    "MarkReadIn": {"all": True},
    "DeviceIn": {"platform": "android", "token": "fcm-token-0123456789abcdef", "app_version": "1.4.0"},
    "NotificationSettingsIn": {
        "opt_out": {"order.rate_request": ["sms"]},
        "quiet_hours": {"enabled": True, "start": "22:30", "end": "07:00"},
    },
    "NotificationSettingsPatch": {"quiet_hours": {"enabled": False}},
    "WechatConsentIn": {
        "results": {"errMsg": "requestSubscribeMessage:ok", "G7Ha3Tk0bQd_x1QpYd1uZr6FZbA8bq1s": "accept"}
    },
    "OrderIn": {
        "category_id": 4,
        "title": "陪老人去医院复查",
        "description": "上午去浙大一院复查，需要一人陪同挂号取药",
        "address": ADDRESS,
        **HERE,
        "start_at": START,
        "end_at": END,
        "volunteers_needed": 1,
        "target_groups": ["elderly_alone"],
    },
    "DispatchIn": {
        "mode": "grab",
        "capacity": 1,
        "note": "需要会用轮椅",
    },
    "OfferIn": {"volunteer_ids": [9, 10]},
    "HandoverIn": {"to_site_id": 2, "reason": "本站本周人手不足，上报街道统筹派单"},
    "ReasonIn": {"reason": "老人家属已安排陪同"},
    "RatingIn": {"stars": 5, "comment": "志愿者很耐心，谢谢"},
    "ComplaintIn": {"category": "timeliness", "text": "约好九点上门，志愿者十点才到，也没有提前打电话"},
    "ComplaintReopenIn": {"text": "答复没有说明以后如何避免，问题没有解决"},
    "ComplaintNoteIn": {"note": "已电话联系志愿者了解情况：当天路上堵车"},
    "ComplaintAnswerIn": {"resolution": "已向志愿者核实并提醒今后提前联系，向您致歉"},
    "ComplaintSuperviseIn": {
        "level": "yellow",
        "subject": "群众诉求：上门不及时",
        "description": "请站点核实并整改",
    },
    "AuditIn": {"confirm_computed": True, "note": "签到签退时间无误，按实际时长确认"},
    "ActivityIn": {
        "category_id": 9,
        "title": "西湖边环境整治",
        "theme": "每月志愿服务日",
        "description": "捡拾垃圾、劝导文明游览",
        "address": "宝石社区新时代文明实践站文明实践广场",
        **HERE,
        "start_at": Day(6, "14:30"),
        "end_at": Day(6, "17:30"),
        "slots": 20,
        "waitlist_max": 5,
    },
    "RuleIn": {
        "spec": {
            "kind": "days_of_month",
            "days": [5, 15, 25],
            "part_of_day": "afternoon",
            "start_time": "14:30",
            "end_time": "17:30",
        },
        "theme": "每月志愿服务日",
        "title": "社区环境整治",
        "category_id": 9,
        "address": "宝石社区新时代文明实践站文明实践广场",
        **HERE,
        "slots": 20,
        "waitlist_max": 5,
    },
    "RulePatch": {"active": False},
    "_Empty": {},
    "OptionalReasonIn": {"reason": "临时有事，无法前往"},
    "PositionIn": dict(HERE),
    "SupervisionItemIn": {
        "subject": "本月过期时长占比偏高",
        "description": "请核查本站 11 月未审核即过期的订单，说明原因并提出整改措施",
        "level": "yellow",
        "about": {"kind": "figure", "ref": "expired_share:2026-11"},
    },
    "ItemNoteIn": {"note": "已约谈相关志愿者，正在逐单核查"},
    "ItemReportIn": {"result": "已逐单核查并补录审核，建立每周审核提醒"},
    "ItemCloseIn": {"note": "整改到位，同意销号"},
    "ItemSendBackIn": {"reason": "整改措施未落实到人，请补充"},
    "ItemWithdrawIn": {"reason": "统计口径有误，撤回督办"},
    "FollowUpCallIn": {"reached": True, "satisfaction": 5, "notes": "老人说志愿者很耐心，希望下次还是他来"},
    "FollowUpGiveUpIn": {"note": "三天内拨打三次均无人接听"},
    "CloseIn": {"reason": "志愿者忘记签退，按服务记录补登", "checkout_at": END},
    "AppealIn": {"minutes_claimed": 90, "reason": "服务结束后帮老人取药，签退晚了但站点只认了 60 分钟"},
    "AppealUpholdIn": {"minutes_granted": 80, "note": "取药有药房小票为证，认定 80 分钟"},
    "AppealRejectIn": {"note": "签到记录与服务对象反馈一致，维持审核结果"},
    "AppealWithdrawIn": {},
}


def _fits(value: Any, schema: dict) -> bool:
    """Whether an example suits a parameter (the same name means different things on some paths)."""
    if "enum" in schema:
        return value in schema["enum"]
    kinds = {"integer": int, "number": int | float, "string": str, "boolean": bool, "array": list}
    kind = kinds.get(schema.get("type", ""))
    return kind is None or (isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool))


def _render(value: Any, today) -> Any:
    if isinstance(value, Day):
        return value.render(today)
    if isinstance(value, dict):
        return {k: _render(v, today) for k, v in value.items()}
    return value


def example(schema_name: str) -> dict:
    """The example body of a request schema, as the document shows it today."""
    return _render(BODY_EXAMPLES[schema_name], datetime.now(UTC).date())


def add_examples(paths: dict, schemas: dict) -> None:
    today = datetime.now(UTC).date()
    for name, example in BODY_EXAMPLES.items():
        if name in schemas:
            schemas[name]["example"] = _render(example, today)
    for path, item in paths.items():
        path_examples = PATH_EXAMPLES | PATH_EXAMPLES_BY_PATH.get(path, {})
        for parameter in item.get("parameters", []):
            if parameter.get("in") == "path" and parameter["name"] in path_examples:
                parameter["example"] = path_examples[parameter["name"]]
        for method, operation in item.items():
            if method == "parameters":
                continue
            query_examples = QUERY_EXAMPLES | QUERY_EXAMPLES_BY_PATH.get(path, {})
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "query" or query_examples.get(parameter.get("name")) is None:
                    continue
                value = query_examples[parameter["name"]]
                for candidate in value if isinstance(value, tuple) else (value,):
                    if _fits(candidate, parameter["schema"]):
                        parameter["example"] = candidate
                        break
