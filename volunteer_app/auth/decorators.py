"""View decorators that say who may call: `@auth_required("manager", "admin")`."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from volunteer_app.auth.tokens import current_principal, verify_request
from volunteer_app.errors import Forbidden
from volunteer_app.extensions import Blueprint


def auth_required(*roles: str, defer: Callable[[], bool] | None = None):
    """Require a valid access token and, when roles are named, at least one of them (else 403).

    Reach (which sites, whose objects) is not decided here: services enforce it in their queries.

    With `defer`, when it says so for the request, the token's session and account are not read
    before the view: the view's principal is a tokens.DeferredPrincipal, read when the service first
    needs it, or checked by the service's own statement (`confirm()`), which then checks the roles
    too (accounts.principal.caller_rider). A principal still unchecked when the view ends, or when it
    raises, is read then: a revoked session or a closed account is 401, a caller without any of the
    roles 403, before any other answer.
    """

    def decorator(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            deferred = defer is not None and defer()
            verify_request(defer=deferred, roles=roles)
            if not deferred:
                if roles and not current_principal().has_any(roles):
                    raise Forbidden("auth.forbidden")
                return fn(*args, **kwargs)
            who = current_principal()
            try:
                return fn(*args, **kwargs)
            finally:
                if not who.settled:
                    who.load()  # a refused token's 401, before the view's answer or its own error

        note = f"Roles: {', '.join(roles)}." if roles else "Any signed-in user."
        return Blueprint.doc(security=[{"bearerAuth": []}], description=note)(wrapper)

    return decorator
