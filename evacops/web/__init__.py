"""The evacops web service (``evacops serve``): FastAPI over the same registry services the CLI
calls.

- config.py: :class:`~evacops.web.config.WebSettings` (``EVACOPS_`` environment variables);
- app.py: :func:`~evacops.web.app.create_app`, the one process that opens the master key;
- security.py: cookies, CSRF, the permission each route needs (:data:`ROUTE_PERMS`);
- deps.py: the acting user (session cookie or bearer token), the registry as them, role checks;
- problems.py: errors as ``application/problem+json`` (no personal data);
- i18n.py: gettext catalogs (en, fa, ps, ar) compiled at load with babel;
- routers/: one module per resource (API under ``/api/v1``) and the pages;
- templates/, static/: server-rendered pages, htmx and the gate's offline service worker.
See docs/service.md.
"""
