"""The spec's paths as a lookup table: the `Allow` header, bare OPTIONS requests, and the
path of each operation (the base path `/v1` is read from the spec here, and only here).

connexion registers one route per path and method, so on a 405 it only knows the
methods of the first route that matched the path; the spec knows them all.
"""

from __future__ import annotations

import re

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class RouteTable:
    def __init__(self, spec: dict) -> None:
        base = _base_path(spec)
        self.base = base  # "/v1": where connexion mounts every path of the spec
        # operationId -> the path connexion serves it at, e.g. "/v1/bucketlists/{bucket_id}".
        self._paths: dict[str, str] = {}
        self._routes: list[tuple[re.Pattern[str], str]] = []
        # Paths whose own `servers` put them at the root (`/healthz`): connexion mounts every
        # path under the base path, so they are served from there under their public path.
        self.at_root: dict[str, str] = {}
        for template, item in spec.get("paths", {}).items():
            if _base_path(item) == "" and "servers" in item:
                self.at_root[template] = base + template
            for method in HTTP_METHODS:
                if isinstance(item.get(method), dict) and "operationId" in item[method]:
                    self._paths[item[method]["operationId"]] = base + template
            methods = {m.upper() for m in item if m in HTTP_METHODS}
            if "GET" in methods:
                methods.add("HEAD")
            methods.add("OPTIONS")
            pattern = re.escape(base + template)
            # A path parameter is one segment of ASCII digits or anything else a client
            # may send there: the route exists even if the value is then refused.
            pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", pattern)
            self._routes.append((re.compile(pattern + r"\Z"), ", ".join(sorted(methods))))

    def path(self, operation_id: str, **parameters: object) -> str:
        """The path of an operation, its path parameters filled in."""
        return self._paths[operation_id].format(**parameters)

    def allow_header(self, path: str) -> str | None:
        for pattern, allow in self._routes:
            if pattern.match(path):
                return allow
        return None


def _base_path(spec: dict) -> str:
    servers = spec.get("servers") or [{"url": ""}]
    return servers[0]["url"].rstrip("/")
