"""Errors as RFC 9457 problem details (`application/problem+json`).

A `Problem` raised anywhere in a request becomes one JSON object with `type`,
`title`, `status` and `detail`; the web pages show the same `title` and
`detail` on an error page. Details are written for the user and never carry
anything the policy hides (see reads.py: a hidden record is "not found").
"""

from __future__ import annotations

from typing import Any

PROBLEM_JSON = "application/problem+json"
# Problem type URIs are relative references (RFC 9457 section 3.1.1) into the docs.
TYPE_BASE = "/docs/problems#"

TITLES = {
    400: "Bad request",
    401: "Sign-in required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid request",
    428: "Purpose of access required",
    429: "Too many requests",
    500: "Internal error",
    503: "Not ready",
}


class Problem(Exception):  # noqa: N818 (named after RFC 9457's problem details)
    """An error to return as a problem details document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind or TITLES.get(status, "error").lower().replace(" ", "-")
        self.title = title or TITLES.get(status, "Error")
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": TYPE_BASE + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            out["instance"] = instance
        out.update(self.extra)
        return out


def not_found(what: str) -> Problem:
    """The one answer for a record that is missing, retired or hidden."""
    return Problem(404, f"{what}: not found", kind="not-found")
