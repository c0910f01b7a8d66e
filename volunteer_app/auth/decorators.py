"""View decorators that say who may call: `@auth_required("manager", "admin")`."""

from __future__ import annotations

from functools import wraps

from volunteer_app.auth.tokens import current_principal, verify_request
from volunteer_app.errors import Forbidden
from volunteer_app.extensions import Blueprint


def auth_required(*roles: str):
    """Require a valid access token and, when roles are named, at least one of them (else 403).

    Reach (which sites, whose objects) is not decided here: services enforce it in their queries.
    """

    def decorator(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            verify_request()
            if roles and not current_principal().has_any(roles):
                raise Forbidden("auth.forbidden")
            return fn(*args, **kwargs)

        note = f"Roles: {', '.join(roles)}." if roles else "Any signed-in user."
        return Blueprint.doc(security=[{"bearerAuth": []}], description=note)(wrapper)

    return decorator
