#!/usr/bin/python3
"""A small stand-in for Harbor's REST API v2.0, in front of a real distribution registry.

Harbor itself cannot run here (it needs Docker, PostgreSQL, Redis and a dozen services), so the
sweep tests use this server instead. It follows the shapes of Harbor's published API (swagger
v2.0) for what a sweep reads:

  GET /api/v2.0/projects?page=&page_size=
  GET /api/v2.0/projects/{project}/repositories?page=&page_size=
  GET /api/v2.0/projects/{project}/repositories/{repo}/artifacts?page=&page_size=&with_tag=
      ({repo} without the project, URL-encoded twice: a/b -> a%252Fb)

with `page`/`page_size` paging, `X-Total-Count` and `Link` headers, and Basic auth (a user or a
robot account `robot$project+name`). Everything it reports comes from the real registry behind
it (catalog, tags, manifests), and every `/v2/` request is passed through to that registry, as
Harbor's own proxy does, so images are pulled from the real thing.

Test knobs (a JSON config file given as the only argument):
  registry        base URL of the real registry (http://127.0.0.1:PORT)
  username/password   the only credentials accepted
  port_file       where to write the port this server bound
  push_times      {"project/repo:tag": "2024-05-01T10:00:00.000Z"}; default 2024-01-01
  fail_manifests  repositories whose /v2/ manifest requests always answer 500
  throttle        answer the first N /v2/ requests with 429 and Retry-After: 1
"""

import base64
import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONFIG = json.load(open(sys.argv[1]))
REGISTRY = CONFIG["registry"].rstrip("/")
EXPECTED_AUTH = "Basic " + base64.b64encode(
    f"{CONFIG['username']}:{CONFIG['password']}".encode()
).decode()
THROTTLE = {"left": int(CONFIG.get("throttle", 0))}
LOCK = threading.Lock()
ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def registry_get(path, accept=None):
    request = urllib.request.Request(REGISTRY + path)
    if accept:
        request.add_header("Accept", accept)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read(), response.headers


def catalog():
    repos, path = [], "/v2/_catalog?n=1000"
    while path:
        body, headers = registry_get(path)
        repos += json.loads(body).get("repositories") or []
        link = headers.get("Link")
        path = link[link.index("<") + 1:link.index(">")] if link else None
    return sorted(repos)


def projects():
    names = sorted({repo.split("/", 1)[0] for repo in catalog() if "/" in repo})
    return [
        {"project_id": i + 1, "name": name, "metadata": {"public": "false"},
         "creation_time": "2024-01-01T00:00:00.000Z", "update_time": "2024-01-01T00:00:00.000Z"}
        for i, name in enumerate(names)
    ]


def repositories(project):
    repos = [r for r in catalog() if r.startswith(project + "/")]
    return [
        {"id": i + 1, "name": repo, "project_id": 1, "artifact_count": 0, "pull_count": 0,
         "creation_time": "2024-01-01T00:00:00.000Z", "update_time": "2024-01-01T00:00:00.000Z"}
        for i, repo in enumerate(repos)
    ]


def artifacts(repo):
    body, _ = registry_get(f"/v2/{repo}/tags/list")
    tags = sorted(json.loads(body).get("tags") or [])
    by_digest = {}
    for tag in tags:
        raw, headers = registry_get(f"/v2/{repo}/manifests/{tag}", ACCEPT)
        digest = headers["Docker-Content-Digest"]
        manifest = json.loads(raw)
        media_type = manifest.get("mediaType") or headers.get("Content-Type")
        pushed = CONFIG.get("push_times", {}).get(f"{repo}:{tag}", "2024-01-01T00:00:00.000Z")
        entry = by_digest.setdefault(digest, {
            "id": len(by_digest) + 1,
            "type": "IMAGE",
            "media_type": media_type,
            "manifest_media_type": media_type,
            "project_id": 1,
            "repository_id": 1,
            "repository_name": repo,
            "digest": digest,
            "size": len(raw),
            "push_time": pushed,
            "pull_time": "0001-01-01T00:00:00.000Z",
            "extra_attrs": {},
            "annotations": None,
            "labels": None,
            "tags": [],
            "references": None,
        })
        entry["push_time"] = max(entry["push_time"], pushed)
        entry["tags"].append({"id": len(entry["tags"]) + 1, "repository_id": 1,
                              "artifact_id": entry["id"], "name": tag, "push_time": pushed,
                              "pull_time": "0001-01-01T00:00:00.000Z", "immutable": False})
        if "manifests" in manifest:
            entry["references"] = [
                {"parent_id": entry["id"], "child_id": 1000 + i, "child_digest": m["digest"],
                 "platform": m.get("platform"), "annotations": None, "urls": None}
                for i, m in enumerate(manifest["manifests"])
            ]
    return sorted(by_digest.values(), key=lambda a: a["push_time"], reverse=True)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send_json(self, status, value, headers=()):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def paged(self, items, query):
        page = max(1, int(query.get("page", ["1"])[0]))
        size = max(1, min(100, int(query.get("page_size", ["10"])[0])))
        chunk = items[(page - 1) * size: page * size]
        path = urllib.parse.urlsplit(self.path).path
        links = []
        host = self.headers.get("Host", "localhost")
        if page > 1:
            links.append(f'<http://{host}{path}?page={page - 1}&page_size={size}>; rel="prev"')
        if page * size < len(items):
            links.append(f'<http://{host}{path}?page={page + 1}&page_size={size}>; rel="next"')
        headers = [("X-Total-Count", str(len(items)))]
        if links:
            headers.append(("Link", " , ".join(links)))
        self.send_json(200, chunk, headers)

    def do_HEAD(self):
        self.proxy()

    def do_GET(self):
        if self.path.startswith("/v2/") or self.path == "/v2":
            return self.proxy()
        if self.headers.get("Authorization") != EXPECTED_AUTH:
            return self.send_json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "unauthorized"}]})
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        parts = url.path.split("/")
        # ['', 'api', 'v2.0', 'projects', P, 'repositories', R, 'artifacts']
        try:
            if parts[1:4] != ["api", "v2.0", "projects"]:
                return self.send_json(404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]})
            if len(parts) == 4:
                return self.paged(projects(), query)
            project = urllib.parse.unquote(parts[4])
            if len(parts) == 6 and parts[5] == "repositories":
                return self.paged(repositories(project), query)
            if len(parts) == 8 and parts[5] == "repositories" and parts[7] == "artifacts":
                repo = urllib.parse.unquote(urllib.parse.unquote(parts[6]))
                return self.paged(artifacts(f"{project}/{repo}"), query)
            return self.send_json(404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]})
        except urllib.error.HTTPError as e:
            return self.send_json(e.code, {"errors": [{"code": "UPSTREAM", "message": str(e)}]})

    def proxy(self):
        with LOCK:
            throttled = THROTTLE["left"] > 0
            THROTTLE["left"] -= 1 if throttled else 0
        if throttled:
            return self.send_json(429, {"errors": [{"code": "TOOMANYREQUESTS"}]}, [("Retry-After", "1")])
        for repo in CONFIG.get("fail_manifests", []):
            if self.path.startswith(f"/v2/{repo}/manifests/"):
                return self.send_json(500, {"errors": [{"code": "UNKNOWN", "message": "injected"}]})
        request = urllib.request.Request(REGISTRY + self.path, method=self.command)
        for key in ("Accept", "Authorization", "Range"):
            if self.headers.get(key):
                request.add_header(key, self.headers[key])
        try:
            response = urllib.request.urlopen(request, timeout=60)
        except urllib.error.HTTPError as e:
            response = e
        self.send_response(response.status if hasattr(response, "status") else response.code)
        for key, value in response.headers.items():
            if key.lower() not in ("connection", "transfer-encoding", "date", "server"):
                self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            while True:
                chunk = response.read(1 << 16)
                if not chunk:
                    break
                self.wfile.write(chunk)
        response.close()


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(CONFIG["port_file"] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402
os.rename(CONFIG["port_file"] + ".tmp", CONFIG["port_file"])
server.serve_forever()
