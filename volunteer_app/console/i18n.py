"""The console's words: English in the code and templates, Chinese by default on the page.

`_("Orders")` is 订单 unless the browser asks for English (Accept-Language, the API's rule). Each page
module registers its own words with `register({...})`; a word missing from the catalogue shows in
English (a test lists the templates' words that have no Chinese).
"""

from __future__ import annotations

from typing import Any

from volunteer_app.errors import language

ZH: dict[str, str] = {}


def register(words: dict[str, str]) -> None:
    """English → Chinese, at import time. One English word has one Chinese across the console: a page
    module giving another raises (the app does not start), so two pages never silently disagree."""
    for english, chinese in words.items():
        if ZH.get(english, chinese) != chinese:
            raise ValueError(f"console word {english!r} is {ZH[english]!r} already, not {chinese!r}")
    ZH.update(words)


def lang() -> str:
    return language()


def gettext(text: str, **params: Any) -> str:
    chosen = text if language() == "en" else ZH.get(text, text)
    return chosen.format(**params) if params else chosen


register(
    {
        "Managers' console": "管理后台",
        "Today": "今日",
        "Orders": "订单",
        "Activities": "活动",
        "Volunteers": "志愿者",
        "Time bank": "时间银行",
        "Statistics": "统计",
        "Settings": "设置",
        "Sign-ins": "登录设备",
        "Sign in": "登录",
        "Sign out": "退出登录",
        "Sign out everywhere": "退出所有设备",
        "Phone": "手机号",
        "Password": "密码",
        "SMS code": "短信验证码",
        "Send code": "获取验证码",
        "Sign in with password": "密码登录",
        "Sign in with an SMS code": "验证码登录",
        "Code sent": "验证码已发送",
        "Site": "站点",
        "Not found": "未找到",
        "This page does not exist, or it is not within your sites.": "页面不存在，或不在您管理的站点范围内。",
        "Back to today": "返回今日",
        "Not for this account": "此账号不能使用管理后台",
        "The console is for station, institute and center managers.": (
            "管理后台供实践站、实践所和实践中心的管理员使用。"
        ),
        "Signed in": "登录时间",
        "Device": "设备",
        "State": "状态",
        "This sign-in": "当前登录",
        "Live": "有效",
        "Ended": "已退出",
        "End": "退出",
        "End this sign-in?": "确定退出该登录？",
        "Sign out of every phone and console?": "确定退出所有手机和后台登录？",
        "More": "更多",
        "Nothing here.": "暂无数据。",
        "Working…": "处理中…",
        "Saved": "已保存",
        "Please sign in again.": "登录已失效，请重新登录。",
        "Could not reach the server. Check the network and try again.": "无法连接服务器，请检查网络后重试。",
        "Unknown browser": "未知浏览器",
    }
)
