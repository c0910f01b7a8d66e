"""Field-level messages in the caller's language: the `errors` details of a 422 are written in English
(marshmallow's messages and the project's own); under zh-CN each one is translated here, as the error
body is built. Exact texts first, then patterns (fullmatch), whose groups fill {0}, {1}… of the
Chinese. A text with no translation is sent as it is (tests/api/test_field_messages.py fails for any
message the code can produce without one). Domains add theirs with register_field_messages().
"""

from __future__ import annotations

import re
from typing import Any

FIELD_MESSAGES: dict[str, str] = {}
FIELD_PATTERNS: list[tuple[re.Pattern[str], str]] = []


def register_field_messages(messages: dict[str | re.Pattern[str], str]) -> None:
    """Add Chinese for English field messages: an exact text, or a compiled pattern (matched whole)
    whose groups fill {0}, {1}… of the Chinese. Later registrations win. Import time."""
    for english, chinese in messages.items():
        if isinstance(english, re.Pattern):
            FIELD_PATTERNS.insert(0, (english, chinese))
        else:
            FIELD_MESSAGES[english] = chinese


def field_message(text: str, lang: str) -> str:
    """One field message in `lang`; unchanged in English or when it has no translation."""
    if lang == "en":
        return text
    found = FIELD_MESSAGES.get(text)
    if found is not None:
        return found
    for pattern, chinese in FIELD_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            parts = [FIELD_WORDS.get(part, part) for part in match.groups(default="")]
            return chinese.format(*parts)
    return text


def translate_errors(errors: Any, lang: str) -> Any:
    """The `errors` details with every message (a string leaf) in `lang`; keys and other values kept."""
    if lang == "en":
        return errors
    if isinstance(errors, str):
        return field_message(errors, lang)
    if isinstance(errors, dict):
        return {key: translate_errors(value, lang) for key, value in errors.items()}
    if isinstance(errors, list | tuple):
        return [translate_errors(value, lang) for value in errors]
    return errors


# Words put into translated patterns (a group equal to one is replaced by its Chinese).
FIELD_WORDS: dict[str, str] = {
    "datetime": "日期时间",
    "date": "日期",
    "time": "时间",
    "aware ": "带时区的",
    "naive ": "不带时区的",
    "greater than or equal to": "大于或等于",
    "greater than": "大于",
    "less than or equal to": "小于或等于",
    "less than": "小于",
    "order": "订单",
    "activity": "活动",
    "morning": "上午",
    "afternoon": "下午",
    "evening": "晚上",
}

_NUMBER = r"(-?[\d.]+(?:e[+-]?\d+)?|-?inf)"
_OP_MIN = "(greater than or equal to|greater than)"
_OP_MAX = "(less than or equal to|less than)"

register_field_messages(
    {
        # marshmallow: fields and schemas
        "Missing data for required field.": "缺少必填字段。",
        "Field may not be null.": "该字段不能为 null。",
        "Invalid value.": "值无效。",
        "Invalid type.": "类型无效。",
        "Invalid input type.": "输入类型无效。",
        "Unknown field.": "未知字段。",
        "Not a valid list.": "不是有效的列表。",
        "Not a valid tuple.": "不是有效的元组。",
        "Not a valid string.": "不是有效的字符串。",
        "Not a valid utf-8 string.": "不是有效的 UTF-8 字符串。",
        "Not a valid UUID.": "不是有效的 UUID。",
        "Not a valid number.": "不是有效的数字。",
        "Number too large.": "数字过大。",
        "Not a valid integer.": "不是有效的整数。",
        "Special numeric values (nan or infinity) are not permitted.": "不允许特殊数值（NaN 或无穷大）。",
        "Not a valid boolean.": "不是有效的布尔值。",
        "Not a valid period of time.": "不是有效的时长。",
        "Not a valid mapping type.": "不是有效的对象。",
        "Not a valid URL.": "不是有效的网址。",
        "Not a valid email address.": "不是有效的电子邮件地址。",
        "Not a valid IP address.": "不是有效的 IP 地址。",
        "Not a valid IPv4 address.": "不是有效的 IPv4 地址。",
        "Not a valid IPv6 address.": "不是有效的 IPv6 地址。",
        "Not a valid IP interface.": "不是有效的 IP 接口。",
        "Not a valid IPv4 interface.": "不是有效的 IPv4 接口。",
        "Not a valid IPv6 interface.": "不是有效的 IPv6 接口。",
        "String does not match expected pattern.": "格式不符合要求。",
        "Invalid input.": "输入无效。",
        "Invalid JSON body.": "JSON 请求体无效。",
        re.compile(r"Not a valid (aware |naive )?(datetime|date|time)\."): "不是有效的{0}{1}。",
        re.compile(r'"(.*)" cannot be formatted as a (datetime|date|time)\.'): "“{0}”无法格式化为{1}。",
        re.compile(r"(.*) cannot be formatted as a timedelta\."): "{0} 无法格式化为时长。",
        re.compile(r"Must be one of: (.*)\."): "必须是以下之一：{0}。",
        re.compile(r"Must be equal to (.*)\."): "必须等于 {0}。",
        re.compile(r"One or more of the choices you made was not in: (.*)\."): "所选项须在以下范围内：{0}。",
        re.compile(r"One or more of the choices you made was in: (.*)\."): "所选项不能包含：{0}。",
        re.compile(rf"Must be {_OP_MIN} {_NUMBER} and {_OP_MAX} {_NUMBER}\."): "必须{0} {1} 且{2} {3}。",
        re.compile(rf"Must be {_OP_MIN} {_NUMBER}\."): "必须{0} {1}。",
        re.compile(rf"Must be {_OP_MAX} {_NUMBER}\."): "必须{0} {1}。",
        re.compile(r"Shorter than minimum length (\d+)\."): "长度不能少于 {0}。",
        re.compile(r"Longer than maximum length (\d+)\."): "长度不能超过 {0}。",
        re.compile(r"Length must be between (\d+) and (\d+)\."): "长度必须在 {0} 到 {1} 之间。",
        re.compile(r"Length must be (\d+)\."): "长度必须为 {0}。",
        # the project's own (schemas, validators, and the `errors` of services)
        "required": "必填",
        "is required": "必填",
        "invalid": "无效",
        "taken": "已被占用",
        "unknown": "未知",
        "reused": "已用于另一个不同的请求",
        "yourself": "不能是您自己",
        "not registered": "未注册",
        "invalid phone number": "手机号无效",
        "not a mainland mobile number": "不是中国大陆手机号",
        "six digits": "应为六位数字",
        "1-100 characters": "应为 1–100 个字符",
        "YYYY-MM": "格式应为 YYYY-MM",
        "year out of range": "年份超出范围",
        "contains characters that cannot be stored": "含有无法保存的字符",
        "printable ASCII without spaces": "应为不含空格的可打印 ASCII 字符",
        "letters, digits, _ and - only": "只能包含字母、数字、_ 和 -",
        "unknown time zone": "未知的时区",
        "thresholds must be strictly ascending": "阈值必须严格递增",
        "name all three levels: red, yellow, green": "须同时设置红、黄、绿三个级别",
        "no such site": "站点不存在",
        "wrong kind": "站点类型不符",
        "not a station": "不是服务站",
        "no station nearby": "附近没有服务站",
        "not above this site": "不在该站点的上级",
        "unknown category": "未知的服务类别",
        "no volunteers": "没有志愿者",
        "give ids, or all: true": "请给出 ids，或 all: true",
        "give user_id or phone": "请给出 user_id 或 phone",
        "give reverse_transfer_id, or user_id and minutes": (
            "请给出 reverse_transfer_id，或 user_id 和 minutes"
        ),
        "user_id and a non-zero minutes are required": "需要 user_id 和不为零的 minutes",
        "give family_link_id, or to_pool: true": "请给出 family_link_id，或 to_pool: true",
        "only with to_pool: true": "仅在 to_pool: true 时可用",
        "after date_to": "晚于 date_to",
        "in the future": "不能是将来的日期",
        "each assignment at most once": "每个分配最多出现一次",
        "between the check-in and the window's end": "应在签到时间与服务时段结束之间",
        "more than the service window": "超过了服务时段",
        "not a station you manage": "不是您管理的服务站",
        "only station staff order for someone else": "只有服务站工作人员可以代他人下单",
        "not a team you manage": "不是您管理的队伍",
        "must be in the future": "必须是将来的时间",
        "must not be in the past": "不能是过去的时间",
        "must not be after the service window ends": "不能晚于服务时段结束",
        "volunteer_ids and team_id are for mode assign": "volunteer_ids 和 team_id 仅用于 assign 模式",
        "volunteer_ids or team_id (one of them)": "volunteer_ids 或 team_id（二选一）",
        "mode assign needs volunteer_ids or team_id (one of them)": (
            "assign 模式需要 volunteer_ids 或 team_id（二选一）"
        ),
        "spec must be an object": "spec 必须是对象",
        "must be a list": "必须是列表",
        "must not be empty": "不能为空",
        "must be an integer": "必须是整数",
        "must be integers": "必须都是整数",
        "must be between 0 (Monday) and 6 (Sunday)": "必须在 0（周一）到 6（周日）之间",
        "must be valid dates as MM-DD": "必须是 MM-DD 格式的有效日期",
        "must be a time as HH:MM": "必须是 HH:MM 格式的时间",
        "must be after start_time": "必须晚于 start_time",
        re.compile(r"must be between (-?\d+) and (-?\d+) or -1"): "必须在 {0} 到 {1} 之间，或为 -1",
        re.compile(r"must be one of: (.*)"): "必须是以下之一：{0}",
        re.compile(r"must have at most (\d+) items"): "最多 {0} 项",
        "week 6 only ever has Monday and Tuesday": "第 6 周只有周一和周二",
        re.compile(r"must be before the (\w+) end (\S+)"): "必须早于{0}时段的结束时间 {1}",
        re.compile(r"must be after (\w+)"): "必须晚于 {0}",
        re.compile(r"at most (\d+) hours after (\w+)"): "不能晚于 {1} 之后 {0} 小时",
        re.compile(r"at most (\d+) days ahead"): "最多提前 {0} 天",
        re.compile(r"at most (\d+) offers at once"): "一次最多邀请 {0} 人",
        re.compile(r"at most (\d+) years after date_from"): "不能晚于 date_from 之后 {0} 年",
        re.compile(r"at most (\d+)"): "最多 {0}",
        re.compile(r"(\d+) minutes left this month"): "本月还剩 {0} 分钟",
        re.compile(r"not volunteers you manage: (.*)"): "不是您管理的志愿者：{0}",
        re.compile(r"not a checked-out assignment of this (\w+)"): "不是本{0}中已签退的分配",
    }
)
