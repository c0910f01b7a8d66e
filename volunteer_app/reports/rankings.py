"""考核 and 红黑榜: a site's child sites (one level down) ranked by a weighted score over a period.

Each child gets, per component, its raw value from the statistics (docs/statistics.md: the child's
whole subtree, the period's local days) and a normalised score from 0 to 100:

- counts, higher is better (sessions, service minutes, attendances): value ÷ the best child's value ×
  100 (all 0 when no child has any);
- shares, higher is better (satisfaction = closed orders rated 4–5 stars ÷ closed orders, so unrated
  and not-yet-rated orders count against; coverage = the child's stations with a session ÷ its
  stations): share × 100;
- shares, lower is better (no-show rate, expired share; supervision = the 督办 items raised against
  the child's subtree in the period, not withdrawn, that went overdue (reported after their deadline,
  or still unreported past it) or were sent back ÷ those items): (1 − share) × 100;
- follow-up rate, higher is better (the 回访 created in the period for the child's stations that are
  done ÷ those created): share × 100;
- response, lower is better (the median minutes from submission to dispatch, read as the upper edge of
  its bin like the statistics): the best (lowest) child's median ÷ this child's × 100.

A child with no data for a component (no closed order, no dispatched order, no volunteer due, no
submitted order, no station, no 督办 item, no follow-up; a median beyond 7 days) scores 0 for it:
like every component, supervision does not reward having nothing to count (an unsupervised child
scores 0 on it, as one with every item late does). A component's points are its
score × its weight ÷ the sum of the weights, to two decimals; the child's score is the sum of its
points (0–100). The weights are the asked site's effective `ranking_weights` setting.

Ranks: equal scores share a rank (1, 1, 3), listed by site id. The 红榜 is the first
`ranking_board_size` children with a score above 0; the 黑榜 the last ones, worst first. With fewer than
twice that many children the two boards split them: at most half (rounded up) on the 红榜 and half
(rounded down) on the 黑榜, so no child is on both, and a child whose score equals one on the 红榜 is
never on the 黑榜.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from volunteer_app.db import utcnow
from volunteer_app.reports import figures, rollups, supervision
from volunteer_app.reports.counting import DISPATCH_BINS
from volunteer_app.reports.periods import Period, last_month
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import RANKING_COMPONENTS, Site
from volunteer_app.sites.reach import Reacher, get_in_reach


@dataclass(frozen=True)
class Component:
    key: str
    zh: str
    en: str
    better: str  # "higher" | "lower"
    unit: str  # what `value` is: "count", "minutes", "share"


COMPONENTS = {
    c.key: c
    for c in (
        Component("sessions", "场次", "Sessions", "higher", "count"),
        Component("service_minutes", "服务时长", "Service minutes", "higher", "minutes"),
        Component("attendances", "人次", "Attendances", "higher", "count"),
        Component(
            "satisfaction",
            "满意度（4–5星÷已审核订单）",
            "Satisfaction (4–5 stars ÷ closed orders)",
            "higher",
            "share",
        ),
        Component("response", "派单用时中位数", "Median time to dispatch", "lower", "minutes"),
        Component("coverage", "站点覆盖率", "Station coverage", "higher", "share"),
        Component("no_show_rate", "爽约率", "No-show rate", "lower", "share"),
        Component("expired_share", "超时未派比例", "Expired share", "lower", "share"),
        Component(
            "supervision",
            "督办超期或退回比例",
            "Supervision items overdue or sent back",
            "lower",
            "share",
        ),
        Component("follow_up", "回访完成率", "Follow-up rate", "higher", "share"),
    )
}
assert tuple(COMPONENTS) == RANKING_COMPONENTS
COUNTS = ("sessions", "service_minutes", "attendances")
HUNDREDTH = Decimal("0.01")


def _share(part: int, whole: int) -> Fraction | None:
    return Fraction(part, whole) if whole else None


def raw_values(
    c: Counter, stations: int, covered: int, supervised: tuple[int, int, int, int]
) -> dict[str, int | Fraction | None]:
    """A child's raw component values from its summed metrics, its stations and its supervision counts
    (items, items overdue or sent back, follow-ups, follow-ups done; reports/supervision.py); None: no
    data."""
    items, bad, follow_ups, done = supervised
    dispatched = c["orders_dispatched"]
    return {
        "sessions": c["sessions_orders"] + c["sessions_activities"],
        "service_minutes": c["service_minutes"],
        "attendances": c["attendances"],
        "satisfaction": _share(c["stars_high"], c["sessions_orders"]),
        "response": (figures.percentile([c[name] for name in DISPATCH_BINS], 0.5) if dispatched else None),
        "coverage": _share(covered, stations),
        "no_show_rate": _share(c["no_shows"], c["attendance_due"]),
        "expired_share": _share(c["orders_expired"], c["orders_submitted"]),
        "supervision": _share(bad, items),
        "follow_up": _share(done, follow_ups),
    }


def normalise(values: list[dict]) -> list[dict[str, Fraction]]:
    """Each child's 0–100 score per component (see the module's docstring)."""
    best_count = {key: max((v[key] for v in values), default=0) for key in COUNTS}
    medians = [v["response"] for v in values if v["response"] is not None]
    best_median = min(medians) if medians else None
    scores = []
    for v in values:
        score: dict[str, Fraction] = {}
        for key in COUNTS:
            score[key] = Fraction(v[key] * 100, best_count[key]) if best_count[key] else Fraction(0)
        for key in ("satisfaction", "coverage", "follow_up"):
            score[key] = Fraction(0) if v[key] is None else v[key] * 100
        for key in ("no_show_rate", "expired_share", "supervision"):
            score[key] = Fraction(0) if v[key] is None else (1 - v[key]) * 100
        score["response"] = (
            Fraction(0) if v["response"] is None else Fraction(best_median * 100, v["response"])
        )
        scores.append(score)
    return scores


def _round(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(HUNDREDTH, ROUND_HALF_UP)


def _shown(value) -> float | int | None:
    if isinstance(value, Fraction):
        return round(float(value), 4)
    return value


def _children(tree: figures.Subtree) -> list:
    return [r for r in tree.rows if r.id != tree.site.id and tree.child_of[r.id] == r.id]


def site_rankings(*, who: Reacher, site_id: int, period: Period | None, lang: str) -> dict:
    """The ranking of a site's children (managers in reach; others 404), by default for last month on
    the site's clock."""
    site = get_in_reach(Site, site_id, Site.id, who)
    period = period or last_month(sites.local_time(site).date())
    return rank(site, period, sites.effective_settings(site), lang)


def rank(site: Site, period: Period, settings: dict, lang: str) -> dict:
    """The ranking of `site`'s children over `period` with the site's effective `settings`."""
    figures.catch_up()
    tree = figures.subtree(site)
    by_site = figures.sums(tree, period.start, period.end, "site")
    weights = {key: Fraction(str(settings["ranking_weights"].get(key, 0))) for key in RANKING_COMPONENTS}
    total_weight = sum(weights.values())
    children = _children(tree)
    sums: dict[int, Counter] = defaultdict(Counter)
    stations: Counter = Counter()
    covered: Counter = Counter()
    for row in tree.rows:
        child = tree.child_of[row.id]
        c = by_site.get(row.id, Counter())
        sums[child].update(c)
        if row.kind == "station":
            stations[child] += 1
            covered[child] += bool(c["sessions_orders"] or c["sessions_activities"])
    supervised = supervision.ranking_values(
        tree, *supervision.instants(period.start, period.end, ZoneInfo(settings["timezone"])), utcnow()
    )
    values = [
        raw_values(sums[r.id], stations[r.id], covered[r.id], tuple(supervised[r.id])) for r in children
    ]
    entries = []
    for row, raw, score in zip(children, values, normalise(values), strict=True):
        components = []
        for key, component in COMPONENTS.items():
            points = _round(score[key] * weights[key] / total_weight) if total_weight else Decimal(0)
            components.append(
                {
                    "component": key,
                    "label": component.zh if lang == "zh-CN" else component.en,
                    "better": component.better,
                    "unit": component.unit,
                    "value": _shown(raw[key]),
                    "score": float(_round(score[key])),
                    "weight": float(weights[key]),
                    "points": points,
                }
            )
        total = sum((c["points"] for c in components), Decimal(0))
        for c in components:
            c["points"] = float(c["points"])
        entries.append(
            {
                "site": {"id": row.id, "kind": row.kind, "name": row.name},
                "score": total,
                "components": components,
            }
        )
    entries.sort(key=lambda e: (-e["score"], e["site"]["id"]))
    for position, entry in enumerate(entries):
        ahead = entries[position - 1] if position else None
        entry["rank"] = ahead["rank"] if ahead and ahead["score"] == entry["score"] else position + 1
    red, black = boards(entries, settings["ranking_board_size"])
    for entry in entries:
        entry["score"] = float(entry["score"])
    return {
        "site": {"id": site.id, "kind": site.kind, "name": site.name},
        "period": period.label,
        "start": period.start,
        "end": period.end,
        "timezone": settings["timezone"],
        **rollups.state_for_answer(),
        "weights": {key: float(w) for key, w in weights.items()},
        "board_size": settings["ranking_board_size"],
        "rankings": entries,
        "red": [_brief(e) for e in red],
        "black": [_brief(e) for e in black],
    }


def boards(entries: list[dict], size: int) -> tuple[list[dict], list[dict]]:
    """The 红榜 and the 黑榜 (worst first) of entries in rank order (see the module's docstring)."""
    n = len(entries)
    red = [e for e in entries[: min(size, (n + 1) // 2)] if e["score"] > 0]
    lowest_red = min((e["score"] for e in red), default=None)
    tail = entries[n - min(size, n // 2) :] if n // 2 else []
    black = [e for e in reversed(tail) if e["score"] != lowest_red]
    return red, black


def _brief(entry: dict) -> dict:
    return {"rank": entry["rank"], "site": entry["site"], "score": float(entry["score"])}
