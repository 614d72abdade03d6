"""Serve: the JSON API and the web UI over one hub and one state database.

    app.py       the FastAPI application: settings, middleware, error handlers
    access.py    who is asking (session cookie or API token), CSRF, purpose of access
    reads.py     what the API and the pages show, each read through the policy and
                 recorded by the audit writer (one function per question)
    api.py       /api/v1: JSON in and out, problem details for errors
    web.py       the server-rendered pages (templates/, static/)
    problems.py  RFC 9457 problem details

Every route authorises through `peelian.govern.policy` and every read of
personal data appends an audit event; `tests/serve/test_leaks.py` runs every
route as every kind of user over records of every marking and compartment.
"""
