"""Per-address rate limits of the service: :class:`RateLimit` (ASGI middleware) over
:class:`Buckets` (token buckets, one per client address).

What is limited, per client address (an IPv6 address counts by its /64 network):

- **log-in attempts** (``POST /login`` and ``POST /api/v1/login``): ``rate_login_per_min`` a
  minute, with a burst of as many; each costs an Argon2 hash, so this guards the CPU and slows
  password spraying across many names;
- **failed authentications**: a failed log-in (401 or 403 from a log-in route) and a 401 to a
  request that came with credentials (a wrong, expired or revoked bearer token or session
  cookie): ``rate_auth_failures_per_min``. Past it, log-in attempts from the address get 429 at
  once, and so does each of its requests whose credentials do not hold (its 401 becomes a 429).
  A request whose token or session is good is never refused for it: a gate phone with a revoked
  token does not stop the other phones behind the same NAT address;
- **every API request** (``rate_api_per_min``): off by default (0). Gate devices behind one
  address send hundreds of authenticated scans a second, so this is for deployments where each
  client has an address of its own.

Refusals are ``429`` problem+json with ``Retry-After`` (whole seconds).

**Where each limit holds.** The buckets live in the memory of one server process: with
``--workers N`` an address gets up to N times the limits (each worker counts on its own) and a
restart forgets them. What must hold across workers and hosts is in the database: the lockout
of a user name after ``login_max_failures`` failed log-ins
(:mod:`evacops.registry.services.accounts`, table ``login_attempts``), whichever process or
address the attempts come from. Behind a reverse proxy the address is the proxy's unless uvicorn
is told to trust it (``FORWARDED_ALLOW_IPS``; docs/service.md, Deployment).
"""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evacops.web.problems import problem

LOGIN_PATHS = frozenset({"/login", "/api/v1/login"})
#: answers that mean "your credentials do not hold" from a log-in route
LOGIN_FAILED = frozenset({401, 403})
MAX_KEYS = 100_000


class Buckets:
    """A token bucket per key: ``per_min`` tokens, refilled at ``per_min`` a minute."""

    def __init__(self, per_min: int, *, clock: Callable[[], float] = time.monotonic):
        self.capacity = float(per_min)
        self.rate_s = per_min / 60.0
        self.clock = clock
        self._b: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def _now(self, key: str) -> tuple[float, float]:
        t = self.clock()
        tokens, at = self._b.get(key, (self.capacity, t))
        return min(self.capacity, tokens + (t - at) * self.rate_s), t

    def wait(self, key: str) -> float:
        """Seconds until ``key`` has a token (0: it has one now)."""
        tokens, _ = self._now(key)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate_s

    def take(self, key: str) -> float:
        """Take a token: 0 if there was one, else the seconds to wait (nothing taken)."""
        tokens, t = self._now(key)
        if tokens < 1:
            return (1 - tokens) / self.rate_s
        self._put(key, tokens - 1, t)
        return 0.0

    def spend(self, key: str) -> None:
        """Take a token whether or not there is one (a failure that happened)."""
        tokens, t = self._now(key)
        self._put(key, max(tokens - 1, 0.0), t)

    def _put(self, key: str, tokens: float, t: float) -> None:
        self._b.pop(key, None)
        self._b[key] = (tokens, t)  # newest last
        if len(self._b) > MAX_KEYS:  # forget the longest-quiet tenth (their buckets are full)
            for k in list(self._b)[: MAX_KEYS // 10]:
                del self._b[k]


def address_of(scope: Scope) -> str:
    """The client's address as the key of its buckets (an IPv6 address: its /64)."""
    client = scope.get("client")
    return _bucket_key(client[0] if client else "unknown")


@functools.lru_cache(maxsize=4096)
def _bucket_key(host: str) -> str:
    """``host``'s bucket key, parsed once per address (every request of a gate asks)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)


def _has_credentials(scope: Scope) -> bool:
    for k, v in scope.get("headers", ()):
        if k == b"authorization" or (k == b"cookie" and b"evacops_session=" in v):
            return True
    return False


class RateLimit:
    """Apply the limits of the module to every HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        login_per_min: int,
        auth_failures_per_min: int,
        api_per_min: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.app = app
        self.logins = Buckets(login_per_min, clock=clock) if login_per_min else None
        self.failures = (
            Buckets(auth_failures_per_min, clock=clock) if auth_failures_per_min else None
        )
        self.api = Buckets(api_per_min, clock=clock) if api_per_min else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        addr = address_of(scope)
        path = scope["path"]
        if self.api is not None and path.startswith("/api/"):
            wait = self.api.take(addr)
            if wait:
                await _too_many(scope, send, wait, "too many requests from this address")
                return
        login = scope["method"] == "POST" and path in LOGIN_PATHS
        if login:
            wait = max(self.failures.wait(addr) if self.failures else 0.0,
                       self.logins.take(addr) if self.logins else 0.0)  # fmt: skip
            if wait:
                await _too_many(scope, send, wait, "too many log-in attempts from this address")
                return
        if self.failures is None:
            await self.app(scope, receive, send)
            return
        await self._watch(scope, receive, send, addr, login)

    async def _watch(self, scope: Scope, receive: Receive, send: Send, addr: str, login: bool):
        """Run the request; count a failed authentication, and turn the 401s of an address past
        its limit into 429s."""
        failures = self.failures
        assert failures is not None
        counts = login or _has_credentials(scope)
        swallow = False

        async def watched(message: Message) -> None:
            nonlocal swallow
            if swallow:
                return
            if message["type"] == "http.response.start" and counts:
                status = message["status"]
                failed = status in LOGIN_FAILED if login else status == 401
                if failed:
                    failures.spend(addr)
                    wait = failures.wait(addr)
                    if wait and not login:
                        swallow = True
                        await _too_many(scope, send, wait, "too many failed authentications "
                                        "from this address")  # fmt: skip
                        return
            await send(message)

        await self.app(scope, receive, watched)


async def _too_many(scope: Scope, send: Send, wait_s: float, detail: str) -> None:
    retry = max(1, math.ceil(wait_s))
    response = problem(429, "Too Many Requests", f"{detail}; try again in {retry} s")
    response.headers["Retry-After"] = str(retry)

    async def _receive() -> Message:
        return {"type": "http.disconnect"}

    await response(scope, _receive, send)
