"""The authorization matrix: every endpoint, every kind of caller, in reach and out of reach.

No token is 401, a role missing is 403, and an object out of the caller's reach is 404 exactly like
one that does not exist: never 403, and nothing of the object in the body. Each case gets a fresh
world (mutating requests change it) and sends a valid request (tests/api/endpoints.py), so the status
is decided by who calls. test_matrix_names_every_endpoint makes a new endpoint fail until it has rows.

A new endpoint: one `Endpoint(method, rule, request)` in tests/api/endpoints.py (`request(app, world,
target)` builds what it needs on that side and returns (url, body)), one MATRIX row with a cell per
column, and EXTRA rows for callers the columns do not show. A fresh world per case costs ~20 ms
(a replayed snapshot), so a row may mutate freely.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest
import schemathesis

from tests.api.endpoints import (
    APPLICANT,
    ENDPOINTS,
    MANAGER,
    ORDER_ADDRESS,
    ORDER_TITLE,
    RESIDENT,
    TEAM,
    VOLUNTEER,
    routes,
)
from tests.api.helpers import ERROR_KEYS, assert_error

# Columns: who calls, on which side's objects. "mgr in reach" is mgr_s1 on S1's objects; the two
# out-of-reach columns are a station manager on the other center's station, both ways round.
COLUMNS = (
    ("anonymous", "S1"),
    ("resident", "S1"),
    ("vol_s1", "S1"),
    ("mgr_s1", "S1"),
    ("mgr_s4", "S1"),
    ("mgr_s1", "S4"),
    ("admin", "S1"),
)
ABOVE = (403, "manager.not_above")  # appointing managers needs a site strictly above
ALREADY = (409, "volunteer.already")
NO_BOOK = (404, "timebook.not_volunteer")  # no time book: not a volunteer, or not one in reach
NOT_ABOVE = (403, "supervision.not_above")  # a station's managers do not supervise their own station
NOT_RAISER = (403, "supervision.not_raiser")  # the acting site's managers do not close their own item
NOT_ACTOR = (403, "supervision.not_actor")  # the raising site's managers do not report it done
NOT_DECIDER = (403, "appeal.not_decider")  # may read an appeal, not decide it (not one level up)
MANAGES = (409, "account.holds_management")  # a manager or admin cannot close the account while one
NA = None  # no objects, so no reach: the out-of-reach columns do not apply

# Columns as in COLUMNS: anonymous, resident, vol_s1, mgr_s1 on S1 (in reach), mgr_s4 on S1 and
# mgr_s1 on S4 (out of reach), admin. A bare status uses DEFAULT_ERRORS; NA: the column does not apply.
# fmt: off
MATRIX: dict[str, tuple] = {
    #                                             anon res      vol_s1   mgr_s1   s4@S1    s1@S4    admin
    "GET /healthz":                              (200, 200,     200,     200,     NA,      NA,      200),
    "GET /readyz":                               (200, 200,     200,     200,     NA,      NA,      200),
    "POST /auth/register":                       (201, 201,     201,     201,     NA,      NA,      201),
    "POST /auth/login":                          (200, 200,     200,     200,     NA,      NA,      200),
    "POST /auth/sms-code":                       (200, 200,     200,     200,     NA,      NA,      200),
    "POST /auth/sms-login":                      (200, 200,     200,     200,     NA,      NA,      200),
    "POST /auth/wechat":                         (200, 200,     200,     200,     NA,      NA,      200),
    "POST /auth/refresh":                        (401, 200,     200,     200,     NA,      NA,      200),
    "POST /auth/logout":                         (401, 200,     200,     200,     NA,      NA,      200),
    "POST /auth/password":                       (401, 200,     200,     200,     NA,      NA,      200),
    "GET /auth/sessions":                        (401, 200,     200,     200,     NA,      NA,      200),
    "DELETE /auth/sessions":                     (401, 204,     204,     204,     NA,      NA,      204),
    "DELETE /auth/sessions/<uuid:session_id>":   (401, 204,     404,     404,     404,     404,     404),
    "GET /me":                                   (401, 200,     200,     200,     NA,      NA,      200),
    "PATCH /me":                                 (401, 200,     200,     200,     NA,      NA,      200),
    "POST /me/volunteer-application":            (401, 201,     ALREADY, 201,     NA,      NA,      201),
    "GET /me/volunteer-applications":            (401, 200,     200,     200,     NA,      NA,      200),
    "GET /sites/<id>/volunteer-applications":    (401, 403,     403,     200,     404,     404,     200),
    "POST /volunteer-applications/<id>/approve": (401, 403,     403,     200,     404,     404,     200),
    "POST /volunteer-applications/<id>/reject":  (401, 403,     403,     200,     404,     404,     200),
    "GET /sites/<id>/managers":                  (401, 403,     403,     200,     404,     404,     200),
    "POST /sites/<id>/managers":                 (401, 403,     403,     ABOVE,   404,     404,     201),
    "DELETE /sites/<id>/managers/<id>":          (401, 403,     403,     ABOVE,   404,     404,     204),
    "GET /teams/<id>/members":                   (401, 403,     403,     200,     404,     404,     200),
    "POST /teams/<id>/members":                  (401, 403,     403,     201,     404,     404,     201),
    "DELETE /teams/<id>/members/<id>":           (401, 403,     403,     204,     404,     404,     204),
    "GET /sites":                                (200, 200,     200,     200,     NA,      NA,      200),
    "POST /sites":                               (401, 403,     403,     403,     NA,      NA,      201),
    "GET /sites/<id>":                           (200, 200,     200,     200,     200,     200,     200),
    "GET /sites/<id>/settings":                  (401, 403,     403,     200,     404,     404,     200),
    "PATCH /sites/<id>/settings":                (401, 403,     403,     200,     404,     404,     200),
    "GET /sites/<id>/stats":                     (401, 403,     403,     200,     404,     404,     200),
    "GET /sites/<id>/rankings":                  (401, 403,     403,     200,     404,     404,     200),
    # A volunteer reads their own home station's leaderboard (vol_s1's is S1); any other site is absent.
    "GET /sites/<id>/leaderboard":               (401, 403,     200,     200,     404,     404,     200),
    "GET /me/stats":                             (401, 403,     200,     403,     NA,      NA,      403),
    "GET /sites/<id>/teams":                     (401, 403,     403,     200,     404,     404,     200),
    "POST /sites/<id>/teams":                    (401, 403,     403,     201,     404,     404,     201),
    "GET /teams/<id>":                           (401, 403,     403,     200,     404,     404,     200),
    "GET /categories":                           (200, 200,     200,     200,     NA,      NA,      200),
    "POST /categories":                          (401, 403,     403,     403,     NA,      NA,      201),
    "GET /me/timebook":                          (401, 200,     200,     200,     NA,      NA,      200),
    "GET /me/timebook/transfers":                (401, 200,     200,     200,     NA,      NA,      200),
    "POST /timebank/adjustments":                (401, 403,     403,     201,     NO_BOOK, NO_BOOK, 201),
    "GET /me/certificates":                      (401, 200,     200,     200,     NA,      NA,      200),
    "POST /me/certificates":                     (401, NO_BOOK, 201,     NO_BOOK, NA,      NA,      NO_BOOK),
    "POST /volunteers/<id>/certificates":        (401, 403,     403,     201,     NO_BOOK, NO_BOOK, 201),
    "GET /certificates/<id>":                    (401, 404,     200,     200,     404,     404,     200),
    "GET /certificates/<id>/print":              (401, 404,     200,     200,     404,     404,     200),
    "POST /certificates/<id>/print-link":        (401, 404,     200,     200,     404,     404,     200),
    "POST /certificates/<id>/revoke":            (401, 403,     403,     200,     404,     404,     200),
    "GET /certificates/verify/<code>":           (200, 200,     200,     200,     NA,      NA,      200),
    "POST /sites/<id>/rewards":                  (401, 403,     403,     201,     404,     404,     201),
    "GET /rewards":                              (401, 200,     200,     200,     NA,      NA,      200),
    "PATCH /rewards/<id>":                       (401, 403,     403,     200,     404,     404,     200),
    "POST /redemptions":                         (401, NO_BOOK, 201,     NO_BOOK, NA,      NA,      NO_BOOK),
    "GET /me/redemptions":                       (401, 200,     200,     200,     NA,      NA,      200),
    "GET /redemptions/<code>":                   (401, 404,     200,     200,     404,     404,     200),
    "POST /redemptions/<code>/fulfil":           (401, 403,     403,     200,     404,     404,     200),
    "GET /sites/<id>/redemptions":               (401, 403,     403,     200,     404,     404,     200),
    "GET /me/family-links":                      (401, 200,     200,     200,     NA,      NA,      200),
    "POST /me/family-links":                     (401, 403,     201,     403,     NA,      NA,      403),
    "GET /sites/<id>/family-links":              (401, 403,     403,     200,     404,     404,     200),
    "POST /family-links/<id>/approve":           (401, 403,     403,     200,     404,     404,     200),
    "POST /family-links/<id>/reject":            (401, 403,     403,     200,     404,     404,     200),
    "POST /me/timebook/gifts":                   (401, NO_BOOK, 201,     NO_BOOK, NA,      NA,      NO_BOOK),
    "PATCH /categories/<id>":                    (401, 403,     403,     403,     403,     403,     200),
    "GET /me/notifications":                     (401, 200,     200,     200,     NA,      NA,      200),
    "POST /me/notifications/read":               (401, 200,     200,     200,     NA,      NA,      200),
    "POST /me/devices":                          (401, 201,     201,     201,     NA,      NA,      201),
    "DELETE /me/devices/<id>":                   (401, 404,     204,     404,     404,     404,     404),
    "GET /me/notification-settings":             (401, 200,     200,     200,     NA,      NA,      200),
    "PUT /me/notification-settings":             (401, 200,     200,     200,     NA,      NA,      200),
    "PATCH /me/notification-settings":           (401, 200,     200,     200,     NA,      NA,      200),
    "GET /admin/notifications/deliveries":       (401, 403,     403,     403,     NA,      NA,      200),
    "GET /admin/notifications/<id>/deliveries":  (401, 403,     403,     403,     403,     403,     200),
    "GET /me/wechat":                            (401, 200,     200,     200,     NA,      NA,      200),
    "DELETE /me/wechat":                         (401, 204,     204,     204,     NA,      NA,      204),
    "POST /me/wechat/subscriptions":             (401, 200,     200,     200,     NA,      NA,      200),
    # A background job is its owner's alone (S1's is vol_s1's): anyone else, admin included, finds nothing.
    "GET /me/jobs":                              (401, 200,     200,     200,     NA,      NA,      200),
    "GET /jobs/<id>":                            (401, 404,     200,     404,     404,     404,     404),
    "GET /jobs/<id>/result":                     (401, 404,     200,     404,     404,     404,     404),
    # Exports: a site's by its managers in reach (a job of the requester's); my own book's by anyone.
    "GET /sites/<id>/exports":                   (401, 403,     403,     200,     404,     404,     200),
    "POST /sites/<id>/exports":                  (401, 403,     403,     202,     404,     404,     202),
    "POST /me/timebook/exports":                 (401, 202,     202,     202,     NA,      NA,      202),
    # The order loop (tests/api/endpoints.py `_order`: S1's order is the resident's; its volunteer is
    # vol_s1). Anyone may order; an order is seen by its resident, its volunteers and managers in reach.
    # Only the ordering resident rates, only the assignment's volunteer acts on it: anyone else, admin
    # included, finds nothing there (404).
    "POST /orders":                              (401, 201,     201,     201,     NA,      NA,      201),
    "GET /orders":                               (401, 200,     200,     200,     NA,      NA,      200),
    "GET /orders/<id>":                          (401, 200,     200,     200,     404,     404,     200),
    "GET /orders/<id>/events":                   (401, 200,     200,     200,     404,     404,     200),
    "POST /orders/<id>/dispatch":                (401, 403,     403,     200,     404,     404,     200),
    "POST /orders/<id>/offers":                  (401, 403,     403,     200,     404,     404,     200),
    "POST /orders/<id>/reject":                  (401, 403,     403,     200,     404,     404,     200),
    "POST /orders/<id>/cancel":                  (401, 200,     404,     200,     404,     404,     200),
    "POST /orders/<id>/grab":                    (401, 403,     201,     403,     403,     403,     403),
    "POST /orders/<id>/rating":                  (401, 200,     404,     404,     404,     404,     404),
    "POST /orders/<id>/audit":                   (401, 403,     403,     200,     404,     404,     200),
    "POST /orders/<id>/handovers":               (401, 403,     403,     201,     404,     404,     201),
    "GET /sites/<id>/handovers":                 (401, 403,     403,     200,     404,     404,     200),
    "POST /handovers/<id>/accept":               (401, 403,     403,     200,     404,     404,     200),
    "POST /handovers/<id>/decline":              (401, 403,     403,     200,     404,     404,     200),
    "POST /handovers/<id>/cancel":               (401, 403,     403,     200,     404,     404,     200),
    "GET /tasks/available":                      (401, 403,     200,     403,     NA,      NA,      403),
    "POST /assignments/<id>/accept":             (401, 404,     200,     404,     404,     404,     404),
    "POST /assignments/<id>/decline":            (401, 404,     200,     404,     404,     404,     404),
    "POST /assignments/<id>/withdraw":           (401, 404,     200,     404,     404,     404,     404),
    "POST /assignments/<id>/check-in":           (401, 404,     200,     404,     404,     404,     404),
    "POST /assignments/<id>/check-out":          (401, 404,     200,     404,     404,     404,     404),
    "POST /assignments/<id>/close":              (401, 403,     403,     200,     404,     404,     200),
    # The managers' workbench (工作台): a site's roster and today's counts, for managers in reach.
    "GET /sites/<id>/volunteers":                (401, 403,     403,     200,     404,     404,     200),
    "GET /sites/<id>/today":                     (401, 403,     403,     200,     404,     404,     200),
    "GET /volunteers/<id>":                      (401, 403,     403,     200,     404,     404,     200),
    "POST /assignments/<id>/no-show":            (401, 403,     403,     200,     404,     404,     200),
    # Activities are published to every signed-in user (like open pools); managing them needs reach.
    "GET /sites/<id>/activities":                (401, 200,     200,     200,     200,     200,     200),
    "POST /sites/<id>/activities":               (401, 403,     403,     201,     404,     404,     201),
    "GET /activities/<id>":                      (401, 200,     200,     200,     200,     200,     200),
    "GET /me/activities":                        (401, 403,     200,     403,     NA,      NA,      403),
    "POST /activities/<id>/signup":              (401, 403,     201,     403,     403,     403,     403),
    "DELETE /activities/<id>/signup":            (401, 403,     204,     403,     403,     403,     403),
    "GET /activities/<id>/signups":              (401, 403,     403,     200,     404,     404,     200),
    "GET /activities/<id>/checkin-code":         (401, 403,     403,     200,     404,     404,     200),
    "GET /sites/<id>/checkin-code":              (401, 403,     403,     200,     404,     404,     200),
    "POST /activities/<id>/cancel":              (401, 403,     403,     200,     404,     404,     200),
    "POST /activities/<id>/audit":               (401, 403,     403,     200,     404,     404,     200),
    "GET /sites/<id>/service-day-rules":         (401, 403,     403,     200,     404,     404,     200),
    "POST /sites/<id>/service-day-rules":        (401, 403,     403,     201,     404,     404,     201),
    "GET /sites/<id>/service-day-rules/preview": (401, 403,     403,     200,     404,     404,     200),
    "GET /service-day-rules/<id>":               (401, 403,     403,     200,     404,     404,     200),
    "PATCH /service-day-rules/<id>":             (401, 403,     403,     200,     404,     404,     200),
    # 督办 items: the admin raised them against the side's station (for its institute); mgr_s1 acts.
    "GET /sites/<id>/supervision-items":         (401, 403,     403,     200,     404,     404,     200),
    "POST /sites/<id>/supervision-items":        (401, 403,     403,     NOT_ABOVE, 404,   404,     201),
    "GET /supervision-items/<id>":               (401, 403,     403,     200,     404,     404,     200),
    "POST /supervision-items/<id>/notes":        (401, 403,     403,     200,     404,     404,     200),
    "POST /supervision-items/<id>/report":       (401, 403,     403,     200,     404,     404,     200),
    "POST /supervision-items/<id>/close":        (401, 403,     403,     NOT_RAISER, 404,  404,     200),
    "POST /supervision-items/<id>/send-back":    (401, 403,     403,     NOT_RAISER, 404,  404,     200),
    "POST /supervision-items/<id>/withdraw":     (401, 403,     403,     NOT_RAISER, 404,  404,     200),
    # 回访: the serving station's managers and those above it.
    "GET /sites/<id>/follow-ups":                (401, 403,     403,     200,     404,     404,     200),
    "GET /follow-ups/<id>":                      (401, 403,     403,     200,     404,     404,     200),
    "POST /follow-ups/<id>/calls":               (401, 403,     403,     200,     404,     404,     200),
    "POST /follow-ups/<id>/give-up":             (401, 403,     403,     200,     404,     404,     200),
    # Complaints (诉求): raised by the order's resident only (anyone else, admin included, finds no
    # order to complain about); its resident and managers reaching its dispatch site read it; the
    # resident alone accepts, reopens, withdraws; managers in reach note and answer; 督办 needs a
    # manager above the site (the station's own are refused by raise_item).
    "POST /orders/<id>/complaints":              (401, 201,     404,     404,     404,     404,     404),
    "GET /me/complaints":                        (401, 200,     200,     200,     NA,      NA,      200),
    "GET /complaints/<id>":                      (401, 200,     404,     200,     404,     404,     200),
    "POST /complaints/<id>/accept":              (401, 200,     404,     404,     404,     404,     404),
    "POST /complaints/<id>/reopen":              (401, 200,     404,     404,     404,     404,     404),
    "POST /complaints/<id>/withdraw":            (401, 200,     404,     404,     404,     404,     404),
    "GET /sites/<id>/complaints":                (401, 403,     403,     200,     404,     404,     200),
    "POST /complaints/<id>/notes":               (401, 403,     403,     200,     404,     404,     200),
    "POST /complaints/<id>/answer":              (401, 403,     403,     200,     404,     404,     200),
    "POST /complaints/<id>/supervise":           (401, 403,     403,     NOT_ABOVE, 404,   404,     200),
    # Appeals: the volunteer's own; read by the managers reaching the audited site; decided one level
    # up (a station's own manager reads but may not decide); out of reach as missing.
    "POST /assignments/<id>/appeal":             (401, 404,     201,     404,     404,     404,     404),
    "GET /me/appeals":                           (401, 200,     200,     200,     NA,      NA,      200),
    "GET /appeals/<id>":                         (401, 404,     200,     200,     404,     404,     200),
    "GET /sites/<id>/appeals":                   (401, 403,     403,     200,     404,     404,     200),
    "POST /appeals/<id>/uphold":                 (401, 403,     403,     NOT_DECIDER, 404,   404,     200),
    "POST /appeals/<id>/reject":                 (401, 403,     403,     NOT_DECIDER, 404,   404,     200),
    "POST /appeals/<id>/withdraw":               (401, 404,     200,     404,     404,     404,     404),
    # Personal data. Closing is refused while the account holds a management role.
    "GET /me/export":                            (401, 200,     200,     200,     NA,      NA,      200),
    "POST /me/close":                            (401, 200,     200,     MANAGES, NA,      NA,      MANAGES),
    # (mgr_s1 and mgr_s4 hold the ID-number permission here: reach decides.)
    "POST /volunteers/<id>/id-number":           (401, 403,     403,     200,     404,     404,     200),
    # (a manager without the permission: EXTRA)
    "GET /id-number-access-log":                 (401, 403,     403,     403,     NA,      NA,      200),
    "GET /id-number-viewers":                    (401, 403,     403,     403,     NA,      NA,      200),
    "POST /id-number-viewers":                   (401, 403,     403,     403,     NA,      NA,      201),
    "DELETE /id-number-viewers/<id>":            (401, 403,     403,     403,     403,     403,     204),
}

# Callers the columns do not show: reach runs down the tree (an institute or center manager reaches
# its stations), never up (a station manager does not reach its institute) nor sideways (a sibling
# station) nor into the other center; appointing managers needs a site strictly above.
EXTRA = [
    ("GET /sites/<id>/volunteer-applications", "mgr_c1", "S1", 200),
    ("GET /sites/<id>/volunteer-applications", "mgr_c1", "S4", 404),
    ("POST /volunteer-applications/<id>/approve", "mgr_i1", "S1", 200),
    ("POST /volunteer-applications/<id>/approve", "mgr_s2", "S1", 404),
    ("POST /volunteer-applications/<id>/reject", "mgr_c1", "S1", 200),
    ("POST /sites/<id>/managers", "mgr_i1", "S1", 201),
    ("POST /sites/<id>/managers", "mgr_c1", "S1", 201),
    ("POST /sites/<id>/managers", "mgr_i1", "I1", ABOVE),
    ("POST /sites/<id>/managers", "mgr_c1", "S4", 404),
    ("DELETE /sites/<id>/managers/<id>", "mgr_i1", "S1", 204),
    ("POST /sites", "mgr_c1", "S1", 403),
    ("GET /sites/<id>/settings", "mgr_s1", "I1", 404),
    ("GET /sites/<id>/settings", "mgr_s2", "S1", 404),
    ("GET /sites/<id>/stats", "mgr_s1", "I1", 404),  # the institute above: out of a station's reach
    ("GET /sites/<id>/stats", "mgr_s2", "S1", 404),  # a sibling station's manager
    ("GET /sites/<id>/stats", "mgr_i1", "S1", 200),
    ("GET /sites/<id>/rankings", "mgr_s1", "I1", 404),
    ("GET /sites/<id>/rankings", "mgr_s2", "S1", 404),
    ("GET /sites/<id>/rankings", "mgr_c1", "I1", 200),
    ("GET /sites/<id>/leaderboard", "vol_s1", "S4", 404),
    ("GET /sites/<id>/leaderboard", "vol_s1", "I1", 404),  # not even the institute above its station
    ("GET /sites/<id>/leaderboard", "vol_s4", "S1", 404),
    ("GET /sites/<id>/leaderboard", "mgr_s2", "S1", 404),
    ("GET /sites/<id>/leaderboard", "mgr_i1", "S1", 200),
    ("PATCH /sites/<id>/settings", "mgr_i1", "S1", 200),
    ("PATCH /sites/<id>/settings", "mgr_s1", "I1", 404),
    ("POST /sites/<id>/teams", "mgr_c1", "S1", 201),
    ("POST /timebank/adjustments", "mgr_i1", "S1", 201),
    ("POST /timebank/adjustments", "mgr_s2", "S1", NO_BOOK),
    ("POST /volunteers/<id>/certificates", "mgr_i1", "S1", 201),
    ("GET /certificates/<id>", "vol_s1", "S4", 404),  # a certificate is its owner's and reach's only
    ("GET /certificates/<id>/print", "vol_s1", "S4", 404),
    ("GET /certificates/<id>", "mgr_c1", "S1", 200),
    ("POST /certificates/<id>/print-link", "vol_s1", "S4", 404),
    ("POST /certificates/<id>/revoke", "mgr_c1", "S1", 200),
    ("GET /redemptions/<code>", "vol_s1", "S4", 404),  # someone else's code
    ("POST /redemptions/<code>/fulfil", "mgr_i1", "S1", 200),
    ("GET /sites/<id>/redemptions", "mgr_i1", "S1", 200),
    ("GET /sites/<id>/redemptions", "mgr_s2", "S1", 404),
    ("GET /sites/<id>/redemptions", "mgr_s1", "I1", 404),
    ("POST /family-links/<id>/approve", "mgr_s2", "S1", 404),
    ("GET /teams/<id>", "mgr_i1", "S1", 200),
    ("GET /teams/<id>", "mgr_s2", "S1", 404),
    ("POST /teams/<id>/members", "mgr_s2", "S1", 404),
    # Orders: someone else's order is absent to a resident and to a volunteer not on it; managers
    # above the station dispatch and audit it, a sibling station or the other center finds nothing.
    ("GET /orders/<id>", "resident", "S4", 404),
    ("GET /orders/<id>", "vol_s1", "S4", 404),
    ("GET /orders/<id>", "mgr_c1", "S1", 200),
    ("GET /orders/<id>/events", "resident", "S4", 404),
    ("GET /orders/<id>/events", "mgr_s2", "S1", 404),
    ("POST /orders/<id>/dispatch", "mgr_s2", "S1", 404),
    ("POST /orders/<id>/dispatch", "mgr_i1", "S1", 200),
    ("POST /orders/<id>/dispatch", "mgr_c1", "S1", 200),
    ("POST /orders/<id>/dispatch", "mgr_c1", "S4", 404),
    ("POST /orders/<id>/offers", "mgr_s2", "S1", 404),
    ("POST /orders/<id>/reject", "mgr_s2", "S1", 404),
    ("POST /orders/<id>/cancel", "resident", "S4", 404),
    ("POST /orders/<id>/cancel", "mgr_s2", "S1", 404),
    ("POST /orders/<id>/rating", "resident", "S4", 404),
    ("POST /orders/<id>/audit", "mgr_i1", "S1", 200),
    ("POST /orders/<id>/audit", "mgr_c1", "S1", 200),
    ("POST /orders/<id>/audit", "mgr_s2", "S1", 404),
    ("POST /orders/<id>/audit", "mgr_c1", "S4", 404),
    # 转派 / 上报: the dispatch site's managers (and those above) pass an order on; the receiving
    # station's accept or decline, the requesting station's cancel; the other side of a handover and
    # a station beside it find nothing.
    ("POST /orders/<id>/handovers", "mgr_s2", "S1", 404),
    ("POST /orders/<id>/handovers", "mgr_i1", "S1", 201),
    ("GET /sites/<id>/handovers", "mgr_s2", "S1", 404),
    ("GET /sites/<id>/handovers", "mgr_i1", "S1", 200),
    ("POST /handovers/<id>/accept", "mgr_s2", "S1", 404),  # S2 asked: it does not accept its own
    ("POST /handovers/<id>/accept", "mgr_i1", "S1", 200),
    ("POST /handovers/<id>/decline", "mgr_s2", "S1", 404),
    ("POST /handovers/<id>/cancel", "mgr_s2", "S1", 404),  # the receiver does not cancel
    ("POST /handovers/<id>/cancel", "mgr_i1", "S1", 200),
    # Assignments: another volunteer's is absent, wherever they serve.
    ("POST /assignments/<id>/accept", "vol_s4", "S1", 404),
    ("POST /assignments/<id>/withdraw", "vol_s4", "S1", 404),
    ("POST /assignments/<id>/check-in", "vol_s4", "S1", 404),
    ("POST /assignments/<id>/check-in", "vol_s1", "S4", 404),
    ("POST /assignments/<id>/check-out", "vol_s4", "S1", 404),
    ("POST /assignments/<id>/close", "mgr_i1", "S1", 200),
    ("POST /assignments/<id>/close", "mgr_s2", "S1", 404),
    ("POST /assignments/<id>/no-show", "mgr_s2", "S1", 404),
    ("POST /sites/<id>/activities", "mgr_c1", "S1", 201),
    ("POST /sites/<id>/activities", "mgr_s2", "S1", 404),
    ("POST /activities/<id>/signup", "vol_s4", "S1", 201),  # open to volunteers nearby, like pools
    ("DELETE /activities/<id>/signup", "vol_s4", "S1", (409, "activity.not_signed_up")),
    ("POST /activities/<id>/audit", "mgr_i1", "S1", 200),
    ("POST /activities/<id>/audit", "mgr_s2", "S1", 404),
    ("GET /sites/<id>/service-day-rules", "mgr_c1", "S1", 200),
    ("PATCH /service-day-rules/<id>", "mgr_s2", "S1", 404),
    ("GET /sites/<id>/follow-ups", "mgr_c1", "S1", 200),
    ("GET /sites/<id>/follow-ups", "mgr_s2", "S1", 404),
    ("GET /follow-ups/<id>", "mgr_i1", "S1", 200),
    ("GET /follow-ups/<id>", "mgr_s2", "S1", 404),
    ("POST /follow-ups/<id>/calls", "mgr_c1", "S1", 200),
    ("POST /follow-ups/<id>/calls", "mgr_s2", "S1", 404),
    ("POST /follow-ups/<id>/give-up", "mgr_s2", "S1", 404),
    # The workbench: down the tree only, never to a sibling nor up.
    ("GET /sites/<id>/volunteers", "mgr_i1", "S1", 200),
    ("GET /sites/<id>/volunteers", "mgr_c1", "S1", 200),
    ("GET /sites/<id>/volunteers", "mgr_s2", "S1", 404),
    ("GET /sites/<id>/volunteers", "mgr_s1", "I1", 404),
    ("GET /sites/<id>/volunteers", "vol_s4", "S1", 403),
    ("GET /sites/<id>/today", "mgr_i1", "S1", 200),
    ("GET /sites/<id>/today", "mgr_c1", "I1", 200),
    ("GET /sites/<id>/today", "mgr_s2", "S1", 404),
    ("GET /sites/<id>/today", "mgr_s1", "I1", 404),
    ("GET /sites/<id>/today", "mgr_c1", "S4", 404),
    ("GET /volunteers/<id>", "mgr_i1", "S1", 200),
    ("GET /volunteers/<id>", "mgr_s2", "S1", 404),
    # Exports: down the tree only, never to a sibling.
    ("POST /sites/<id>/exports", "mgr_i1", "S1", 202),
    ("POST /sites/<id>/exports", "mgr_c1", "S1", 202),
    ("POST /sites/<id>/exports", "mgr_s2", "S1", 404),
    ("POST /sites/<id>/exports", "mgr_s1", "I1", 404),
    ("GET /sites/<id>/exports", "mgr_c1", "S1", 200),
    ("GET /sites/<id>/exports", "mgr_s2", "S1", 404),
    # 督办 items: raised from above (the institute or the center), never by the station itself nor
    # sideways; the raiser closes, sends back and withdraws, the acting side reports; a sibling sees nothing.
    ("POST /sites/<id>/supervision-items", "mgr_i1", "S1", 201),
    ("POST /sites/<id>/supervision-items", "mgr_c1", "I1", 201),
    ("POST /sites/<id>/supervision-items", "mgr_s1", "I1", 404),
    ("POST /sites/<id>/supervision-items", "mgr_s2", "S1", 404),
    ("POST /sites/<id>/supervision-items", "mgr_c1", "C1", NOT_ABOVE),
    ("GET /sites/<id>/supervision-items", "mgr_i1", "S1", 200),
    ("GET /sites/<id>/supervision-items", "mgr_s2", "S1", 404),
    ("GET /sites/<id>/supervision-items", "mgr_s1", "I1", 404),
    ("GET /supervision-items/<id>", "mgr_i1", "S1", 200),
    ("GET /supervision-items/<id>", "mgr_c1", "S1", 200),
    ("GET /supervision-items/<id>", "mgr_s2", "S1", 404),
    ("GET /supervision-items/<id>", "mgr_c1", "S4", 404),
    ("POST /supervision-items/<id>/notes", "mgr_i1", "S1", 200),
    ("POST /supervision-items/<id>/notes", "mgr_s2", "S1", 404),
    ("POST /supervision-items/<id>/report", "mgr_i1", "S1", NOT_ACTOR),
    ("POST /supervision-items/<id>/report", "mgr_s2", "S1", 404),
    ("POST /supervision-items/<id>/close", "mgr_i1", "S1", 200),
    ("POST /supervision-items/<id>/close", "mgr_c1", "S1", 200),
    ("POST /supervision-items/<id>/close", "mgr_s2", "S1", 404),
    ("POST /supervision-items/<id>/send-back", "mgr_i1", "S1", 200),
    ("POST /supervision-items/<id>/withdraw", "mgr_i1", "S1", 200),
    ("POST /supervision-items/<id>/withdraw", "mgr_s2", "S1", 404),
    # Complaints: another resident's is absent; a sibling station's managers find nothing, those above
    # the dispatch station reach it and may supervise it.
    ("POST /orders/<id>/complaints", "resident", "S4", 404),
    ("GET /complaints/<id>", "resident", "S4", 404),
    ("GET /complaints/<id>", "mgr_s2", "S1", 404),
    ("GET /complaints/<id>", "mgr_c1", "S1", 200),
    ("POST /complaints/<id>/accept", "resident", "S4", 404),
    ("POST /complaints/<id>/reopen", "resident", "S4", 404),
    ("POST /complaints/<id>/withdraw", "resident", "S4", 404),
    ("GET /sites/<id>/complaints", "mgr_i1", "S1", 200),
    ("GET /sites/<id>/complaints", "mgr_s2", "S1", 404),
    ("GET /sites/<id>/complaints", "mgr_s1", "I1", 404),
    ("POST /complaints/<id>/notes", "mgr_s2", "S1", 404),
    ("POST /complaints/<id>/answer", "mgr_s2", "S1", 404),
    ("POST /complaints/<id>/answer", "mgr_i1", "S1", 200),
    ("POST /complaints/<id>/supervise", "mgr_i1", "S1", 200),
    ("POST /complaints/<id>/supervise", "mgr_c1", "S1", 200),
    ("POST /complaints/<id>/supervise", "mgr_s2", "S1", 404),
    ("POST /complaints/<id>/supervise", "mgr_c1", "S4", 404),
    # Appeals: decided by the managers one level up (and above); the sibling station sees nothing.
    ("POST /assignments/<id>/appeal", "vol_s4", "S1", 404),
    ("GET /appeals/<id>", "mgr_i1", "S1", 200),
    ("GET /appeals/<id>", "mgr_c1", "S1", 200),
    ("GET /appeals/<id>", "mgr_s2", "S1", 404),
    ("GET /appeals/<id>", "vol_s4", "S1", 404),
    ("GET /sites/<id>/appeals", "mgr_i1", "I1", 200),
    ("GET /sites/<id>/appeals", "mgr_s1", "I1", 404),
    ("GET /sites/<id>/appeals", "mgr_s2", "S1", 404),
    ("POST /appeals/<id>/uphold", "mgr_i1", "S1", 200),
    ("POST /appeals/<id>/uphold", "mgr_c1", "S1", 200),
    ("POST /appeals/<id>/uphold", "mgr_s2", "S1", 404),
    ("POST /appeals/<id>/uphold", "mgr_c1", "S4", 404),
    ("POST /appeals/<id>/reject", "mgr_i1", "S1", 200),
    ("POST /appeals/<id>/reject", "mgr_s2", "S1", 404),
    ("POST /appeals/<id>/withdraw", "vol_s4", "S1", 404),
    # Managers without the permission (only mgr_s1 and mgr_s4 hold it in that row)
    ("POST /volunteers/<id>/id-number", "mgr_i1", "S1", (403, "id_number.not_permitted")),
    ("POST /volunteers/<id>/id-number", "mgr_s2", "S1", (403, "id_number.not_permitted")),
]
# fmt: on

# Default error codes; a cell written as (status, error) names its own.
DEFAULT_ERRORS = {401: "token.missing", 403: "auth.forbidden", 404: "not_found"}
NOT_FOUND_BODY = {"code": 404, "status": "Not Found", "error": "not_found", "message": "未找到该资源"}


class Row(NamedTuple):
    endpoint: str
    caller: str
    target: str
    status: int
    error: str | None

    @property
    def id(self) -> str:
        return f"{self.endpoint} | {self.caller}@{self.target} | {self.status}"


def _row(endpoint: str, caller: str, target: str, cell) -> Row:
    status, error = cell if isinstance(cell, tuple) else (cell, DEFAULT_ERRORS.get(cell))
    return Row(endpoint, caller, target, status, error)


ROWS = [
    _row(endpoint, caller, target, cell)
    for endpoint, cells in MATRIX.items()
    for (caller, target), cell in zip(COLUMNS, cells, strict=True)
    if cell is not NA
] + [_row(*extra) for extra in EXTRA]


@pytest.fixture(scope="module")
def documented(app):
    """The app's own OpenAPI document, to hold every successful answer to."""
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def _markers(world, target: str) -> list[str]:
    """What an out-of-reach caller must not see of the target side: names, phone numbers, orders."""
    if target not in TEAM:
        return [f"站点{target}"]
    names = {"S1": ["宝石志愿服务队", "志愿者一"], "S4": ["外区队", "志愿者四"]}[target]
    keys = {APPLICANT[target], MANAGER[target], VOLUNTEER[target], RESIDENT[target]}
    people = [world.people[key] for key in sorted(keys)]
    return [f"站点{target}", "申请人", *names, *(p.phone for p in people), ORDER_TITLE, ORDER_ADDRESS]


def _headers(world, caller: str, token: str) -> dict[str, str]:
    if caller == "anonymous":
        return {}
    person = world.people[caller]
    return {"Authorization": f"Bearer {person.refresh if token == 'refresh' else person.token}"}


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_authorization(app, client, world, documented, row):
    endpoint = ENDPOINTS[row.endpoint]
    url, body = endpoint.request(app, world, row.target)
    response = client.open(
        url, method=endpoint.method, json=body, headers=_headers(world, row.caller, endpoint.token)
    )
    if row.status < 400:
        assert response.status_code == row.status, response.get_data(as_text=True)[:300]
        # A real answer on a real object (the fuzzer rarely hits one) matches its documented schema.
        documented[endpoint.path][endpoint.method].validate_response(response)
        return
    error = assert_error(response, row.status, row.error)
    if row.status == 404:
        # Out of reach is indistinguishable from absent: the bare error, no details, nothing of the object.
        assert set(error) == ERROR_KEYS, error
        if row.error == "not_found":
            assert error == NOT_FOUND_BODY
        text = response.get_data(as_text=True)
        leaked = [marker for marker in _markers(world, row.target) if marker in text]
        assert not leaked, leaked


def test_matrix_names_every_endpoint(app):
    """Every route the app serves has a row for every kind of caller; every row names a real route."""
    served = routes(app)
    assert served, "no routes found"
    missing = sorted(served - set(MATRIX))
    assert not missing, f"add these endpoints to MATRIX (and tests/api/endpoints.py): {missing}"
    stale = sorted(set(MATRIX) - served)
    assert not stale, f"MATRIX names routes the app does not serve: {stale}"
    assert set(MATRIX) == set(ENDPOINTS)
    assert {key for key, *_ in EXTRA} <= set(MATRIX)


def test_every_endpoint_that_addresses_an_object_is_tried_out_of_reach():
    """An endpoint with an object in its path (an id or a code) must say what both out-of-reach
    managers get, unless anyone may call it anonymously (then it has no reach to leave)."""
    for key, cells in MATRIX.items():
        public = cells[0] is not NA and _row(key, "anonymous", "S1", cells[0]).status < 400
        if "<" in key and not public:
            assert cells[4] is not NA and cells[5] is not NA, f"{key}: fill the out-of-reach columns"


def test_out_of_reach_is_never_forbidden():
    """Reach is answered with 404 only; a 403 there would confirm the object exists."""
    for key, cells in MATRIX.items():
        out_of_reach = {cells[4], cells[5]} - {NA}
        role_missing = cells[3] == 403  # the manager role itself is not enough (admin-only endpoints)
        if out_of_reach and not role_missing:
            assert 403 not in out_of_reach and ABOVE not in out_of_reach, key
