"""A loopback Hugging Face Hub for the tests: an http.server on 127.0.0.1 serving huggingface_hub's real client
(in-memory repositories), and a fresh Hugging Face home per test."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml


def git_blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class LoopbackHub:
    """
    The endpoints of the Hub that huggingface_hub's client calls for create_repo, create_branch, upload_folder
    (preupload answering "regular" for every file, ndjson commit) and snapshot_download / hf_hub_download (repo
    info, tree, HEAD / GET of resolve URLs with X-Repo-Commit, ETag and Content-Length), on in-memory repositories.
    """

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, Any]] = {}  # repo_id -> {"branches": {name: sha}, "commits": {sha: files}}
        self.requests: list[tuple[str, str]] = []
        self.commit_messages: list[str] = []
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                hub.handle(self, "GET")

            def do_HEAD(self) -> None:
                hub.handle(self, "HEAD")

            def do_POST(self) -> None:
                hub.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- repository state ------------------------------------------------------------------------------------------
    def _commit(self, repo_id: str, branch: str, files: dict[str, bytes], message: str) -> str:
        sha = hashlib.sha1(json.dumps([repo_id, branch, message, len(self.commit_messages)]).encode()).hexdigest()
        self.repos[repo_id]["commits"][sha] = files
        self.repos[repo_id]["branches"][branch] = sha
        self.commit_messages.append(message)
        return sha

    def _resolve(self, repo_id: str, revision: str) -> str | None:
        repo = self.repos[repo_id]
        if revision in repo["branches"]:
            return repo["branches"][revision]
        return revision if revision in repo["commits"] else None

    # -- HTTP ------------------------------------------------------------------------------------------------------
    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        path = unquote(urlsplit(request.path).path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        with self.lock:
            self.requests.append((method, path))
            status, headers, content = self.route(method, path, body)
        request.send_response(status)
        for key, value in {"Content-Length": str(len(content)), **headers}.items():
            request.send_header(key, value)
        request.end_headers()
        if method != "HEAD":
            request.wfile.write(content)

    @staticmethod
    def _json(status: int, data: Any, **headers: str) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": "application/json", **headers}, json.dumps(data).encode()

    def _not_found(self, code: str, message: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        return self._json(404, {"error": message}, **{"X-Error-Code": code, "X-Error-Message": message, **headers})

    def route(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/api/repos/create":
            payload = json.loads(body)
            repo_id = f"{payload['organization']}/{payload['name']}"
            if repo_id in self.repos:
                return self._json(409, {"error": "You already created this model repo", "url": f"{self.url}/{repo_id}"})
            self.repos[repo_id] = {"branches": {}, "commits": {}}
            self._commit(repo_id, "main", {".gitattributes": b"*.zip filter=lfs diff=lfs merge=lfs -text\n"}, "init")
            return self._json(200, {"url": f"{self.url}/{repo_id}"})
        if method == "POST" and path == "/api/validate-yaml":  # upload_folder checks the card's front matter
            content = json.loads(body)["content"]
            try:
                front = yaml.safe_load(content.split("---\n")[1]) if content.startswith("---\n") else {}
            except yaml.YAMLError as error:
                return self._json(400, {"errors": [{"message": str(error)}]})
            if not isinstance(front, dict):
                return self._json(400, {"errors": [{"message": "the front matter is not a mapping"}]})
            return self._json(200, {"errors": [], "warnings": []})
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo_id = f"{parts[2]}/{parts[3]}"
            if repo_id not in self.repos:
                return self._not_found("RepoNotFound", "Repository not found")
            action, revision = (parts[4], "/".join(parts[5:])) if len(parts) > 4 else ("info", "main")
            if action == "branch" and method == "POST":
                if revision in self.repos[repo_id]["branches"]:
                    return self._json(409, {"error": "Reference already exists"})
                main = self.repos[repo_id]["branches"]["main"]
                self.repos[repo_id]["branches"][revision] = main
                return self._json(200, {})
            sha = self._resolve(repo_id, revision.split("/")[0] if action == "tree" else revision)
            if sha is None:
                return self._not_found("RevisionNotFound", f"Invalid rev id: {revision}")
            files = self.repos[repo_id]["commits"][sha]
            if action == "preupload":
                paths = [item["path"] for item in json.loads(body)["files"]]
                return self._json(
                    200, {"files": [{"path": p, "uploadMode": "regular", "shouldIgnore": False} for p in paths]}
                )
            if action == "commit":
                lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                new_files = dict(files)
                for line in lines[1:]:
                    if line["key"] == "file":
                        new_files[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
                    elif line["key"] == "deletedFile":
                        new_files.pop(line["value"]["path"], None)
                    else:
                        return self._json(400, {"error": f"unsupported commit operation {line['key']}"})
                branch = revision if revision in self.repos[repo_id]["branches"] else "main"
                new_sha = self._commit(repo_id, branch, new_files, lines[0]["value"]["summary"])
                return self._json(200, {"commitUrl": f"{self.url}/{repo_id}/commit/{new_sha}", "commitOid": new_sha})
            if action in ("info", "revision"):
                siblings = [{"rfilename": p} for p in sorted(files)]
                return self._json(200, {"id": repo_id, "sha": sha, "siblings": siblings, "private": False})
            if action == "tree":
                entries = [
                    {"type": "file", "path": p, "size": len(c), "oid": git_blob_id(c)} for p, c in sorted(files.items())
                ]
                return self._json(200, entries)
        if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
            repo_id = f"{parts[0]}/{parts[1]}"
            if repo_id not in self.repos:
                return self._not_found("RepoNotFound", "Repository not found")
            sha = self._resolve(repo_id, parts[3])
            if sha is None:
                return self._not_found("RevisionNotFound", f"Invalid rev id: {parts[3]}")
            filename = "/".join(parts[4:])
            files = self.repos[repo_id]["commits"][sha]
            if filename not in files:
                return self._not_found("EntryNotFound", f"{filename} does not exist", **{"X-Repo-Commit": sha})
            content = files[filename]
            return 200, {"X-Repo-Commit": sha, "ETag": f'"{git_blob_id(content)}"'}, content
        return self._json(400, {"error": f"the loopback hub does not implement {method} {path}"})
