"""API keys on requests: ``Authorization: Bearer <key>``, checked against the key cache.

No key or an unknown one: 401 (with ``WWW-Authenticate: Bearer``). A key without the scope
a route needs: 403. Keys that cannot be checked at all (never loaded, the database down
since the start): 503.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.runtime import Runtime
from core.apikeys import ApiKeyInfo

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="API key",
    description="A key from `workbench api-key create NAME`, sent as "
    "`Authorization: Bearer <key>`.",
)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def key_with_scope(runtime: Runtime, scope: str) -> Callable[..., ApiKeyInfo]:
    """A dependency that returns the request's API key when it may use ``scope`` (async:
    it does no I/O, and a plain function would cost a trip to the thread pool)."""

    async def dependency(
        credentials: HTTPAuthorizationCredentials | None = Security(bearer),  # noqa: B008
    ) -> ApiKeyInfo:
        if credentials is None:
            raise HTTPException(
                401,
                "no API key: send the header Authorization: Bearer <key> (a key in another "
                "header, or without 'Bearer ', is not read)",
                _CHALLENGE,
            )
        key = runtime.keys.authenticate(credentials.credentials)
        if key is None:
            if runtime.keys.loaded_at is None:
                raise HTTPException(
                    503, f"API keys cannot be checked yet: {runtime.database_problem}"
                )
            raise HTTPException(
                401,
                "the API key is not valid: unknown, revoked, or made less than "
                f"{runtime.settings.api_key_refresh:g} s ago (WORKBENCH_API_KEY_REFRESH: keys "
                "are reloaded that often)",
                _CHALLENGE,
            )
        if not key.allows(scope):
            raise HTTPException(
                403,
                f"the API key {key.name!r} has the scopes {', '.join(key.scopes)}; this "
                f"needs {scope!r} (an ML lead makes one: workbench api-key create NAME "
                f"--scope {scope})",
            )
        return key

    return dependency
