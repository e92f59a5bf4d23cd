"""A small synchronous client of the system-call API, used by the `aos` CLI (and handy in scripts)."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """The API answered with a problem document (or could not be reached)."""

    def __init__(self, status: int, title: str, detail: str, body: Any = None) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status, self.title, self.detail, self.body = status, title, detail, body


class Client:
    def __init__(self, url: str, key: str | None, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout, transport=transport)
        self.url = url

    def __enter__(self) -> Client:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise ApiError(0, "Unreachable", f"cannot reach AOS at {self.url}: {e} (is `aos up` running?)") from e
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"title": response.reason_phrase, "detail": response.text[:300]}
            raise ApiError(response.status_code, body.get("title", ""), body.get("detail", ""), body)
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("POST", path, json=body, **kwargs)

    def delete(self, path: str, **params: Any) -> Any:
        return self.call("DELETE", path, params=params)
