"""Local git services for the Git, GitHub, GitLab and Bitbucket storage tests (a pytest plugin).

What is real: every repository is a real git repository made with the `git` binary; commits, SHAs,
branches and tags are real. `GitHttpServer` is the real `git http-backend` (git's own smart-HTTP
server, https://git-scm.com/docs/git-http-backend) run as CGI, so `git clone`/`fetch`/`ls-remote`
talk the real protocol (v2 included, through the Git-Protocol header) over real HTTP.

What is a stand-in: the three REST APIs. Each answers the same URLs, headers and status codes as the
service (docs cited on each class), reading the real repositories with `git rev-parse` and
`git cat-file`, so a ref resolves to the real commit and a file is read at that commit. Only what
the storages use is served; error bodies have the services' shapes. Repositories are private unless
listed in `public`, and each service behaves as its docs say for a missing or wrong credential.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Set, Tuple

import pytest

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Flow Author", "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Flow Author", "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Optional[str] = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, env=dict(os.environ, **GIT_ENV), check=check,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


class WorkRepo:
    """A developer's checkout: commit files, then push to its bare twin that the services serve."""

    def __init__(self, name: str, work: str, bare: str) -> None:
        self.name, self.work, self.bare = name, work, bare
        git("init", "-q", "--bare", "-b", "main", bare)
        git("init", "-q", "-b", "main", work)
        git("remote", "add", "origin", bare, cwd=work)

    def commit(self, files: Dict[str, Optional[str]], message: str = "change", branch: str = "main") -> str:
        """Write (or, for None, delete) files, commit and push; return the new commit's SHA."""
        if git("rev-parse", "--verify", "-q", "HEAD", cwd=self.work, check=False).returncode == 0:
            git("checkout", "-q", "-B", branch, cwd=self.work)
        for path, text in files.items():
            full = os.path.join(self.work, path)
            if text is None:
                os.remove(full)
                continue
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as fh:
                fh.write(text)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)
        return self.head()

    def tag(self, name: str) -> str:
        git("tag", "-a", "-m", name, name, cwd=self.work)
        git("push", "-q", "origin", f"refs/tags/{name}", cwd=self.work)
        return self.head()

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.work).stdout.decode().strip()


class BareRepo:
    """Read a served repository the way a host does: refs and files at a commit."""

    def __init__(self, path: str) -> None:
        self.path = path

    def _git(self, *args: str) -> Optional[bytes]:
        done = git("--git-dir", self.path, *args, check=False)
        return done.stdout if done.returncode == 0 else None

    def default_branch(self) -> str:
        return (self._git("symbolic-ref", "--short", "HEAD") or b"main").decode().strip()

    def commit(self, ref: str) -> Optional[str]:
        if not ref or ref.startswith("-"):
            return None
        out = self._git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
        return out.decode().strip() if out else None

    def object_type(self, sha: str, path: str) -> Optional[str]:
        out = self._git("cat-file", "-t", f"{sha}:{path}")
        return out.decode().strip() if out else None

    def blob(self, sha: str, path: str) -> Optional[bytes]:
        return self._git("cat-file", "blob", f"{sha}:{path}") if self.object_type(sha, path) == "blob" else None

    def message(self, sha: str) -> str:
        return (self._git("log", "-1", "--format=%s", sha) or b"").decode().strip()


class RepoSet:
    """Bare repositories under one folder, named like 'org/repo' (served as org/repo.git)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.served = os.path.join(root, "served")
        os.makedirs(self.served, exist_ok=True)
        self.names: List[str] = []

    def create(self, name: str) -> WorkRepo:
        self.names.append(name)
        return WorkRepo(name, os.path.join(self.root, "work", name), os.path.join(self.served, name + ".git"))

    def get(self, name: str) -> Optional[BareRepo]:
        return BareRepo(os.path.join(self.served, name + ".git")) if name in self.names else None

    def by_id(self, number: int) -> Optional[str]:
        return self.names[number - 1] if 0 < number <= len(self.names) else None


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.service.serve(self)  # type: ignore[attr-defined]

    do_POST = do_GET

    def log_message(self, *args: Any) -> None:
        pass


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 at a free port; `requests` records what it was asked."""

    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.service = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.requests: List[Tuple[str, str, Dict[str, str]]] = []
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    @staticmethod
    def send(handler: BaseHTTPRequestHandler, status: int, body: Any,
             headers: Optional[Dict[str, str]] = None) -> None:
        if isinstance(body, (dict, list)):
            body, ctype = json.dumps(body).encode(), "application/json; charset=utf-8"
        elif isinstance(body, str):
            body, ctype = body.encode(), "text/plain; charset=utf-8"
        else:
            ctype = "application/octet-stream"
        headers = dict(headers or {})
        handler.send_response(status)
        handler.send_header("Content-Type", headers.pop("Content-Type", ctype))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, with or without chunked transfer encoding (git chunks large POSTs)."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
            chunk = handler.rfile.read(size)
            handler.rfile.readline()
            if size == 0:
                return b"".join(chunks)
            chunks.append(chunk)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


class GitHttpServer(LocalServer):
    """The real `git http-backend` behind HTTP basic auth: the password must be `token`.

    Like GitHub/GitLab over HTTPS: no or wrong credentials -> 401 with `WWW-Authenticate: Basic`,
    so git asks its credential helper / GIT_ASKPASS and then retries.
    """

    def __init__(self, repos: RepoSet, token: str) -> None:
        self.repos, self.token = repos, token
        self.usernames: List[str] = []
        super().__init__()

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        path, _, query = handler.path.partition("?")
        self.requests.append((handler.command, handler.path, dict(handler.headers)))
        user, password = _basic_credentials(handler.headers.get("Authorization", ""))
        if password != self.token:
            self.send(handler, 401, "Unauthorized", {"WWW-Authenticate": 'Basic realm="flowimg-test"'})
            return
        self.usernames.append(user)
        body = _read_body(handler)
        env = {
            "PATH": os.environ.get("PATH", ""), "GIT_PROJECT_ROOT": self.repos.served, "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1", "PATH_INFO": urllib.parse.unquote(path), "QUERY_STRING": query,
            "REQUEST_METHOD": handler.command, "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": user, "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": handler.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": handler.headers.get("Content-Encoding", ""),
        }
        done = subprocess.run(["git", "http-backend"], input=body, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status, headers = 200, {}
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers[key] = value.strip()
        self.send(handler, status, payload, headers)


def _basic_credentials(header: str) -> Tuple[str, str]:
    if not header.startswith("Basic "):
        return "", ""
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return "", ""
    return user, password


def _quoted_parts(raw_path: str) -> List[str]:
    """Path segments, each URL-decoded after splitting (so org%2Frepo stays one segment)."""
    return [urllib.parse.unquote(p) for p in raw_path.split("?")[0].split("/")[1:]]


class RestService(LocalServer):
    """A REST stand-in: `route(method, parts, query, headers)` -> (status, body[, headers])."""

    def __init__(self, repos: RepoSet, token: str, weak_token: Optional[str] = None,
                 public: Optional[Set[str]] = None) -> None:
        self.repos, self.token, self.weak_token = repos, token, weak_token
        self.public: Set[str] = set(public or ())
        super().__init__()

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        self.requests.append((handler.command, handler.path, dict(handler.headers)))
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query))
        answer = self.route(handler.command, _quoted_parts(handler.path), query, handler.headers)
        self.send(handler, *answer)

    def route(self, method: str, parts: List[str], query: Dict[str, str], headers: Any) -> tuple:
        raise NotImplementedError

    def caller(self, token: Optional[str]) -> str:
        """'anonymous', 'ok', 'weak' (valid but without the scope) or 'bad'."""
        if token is None:
            return "anonymous"
        return "ok" if token == self.token else "weak" if token == self.weak_token else "bad"

    def visible(self, name: str, caller: str) -> Optional[BareRepo]:
        repo = self.repos.get(name)
        return repo if repo is not None and (caller == "ok" or name in self.public) else None


def _bearer(headers: Any, *schemes: str) -> Optional[str]:
    value = headers.get("Authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token if scheme.lower() in schemes else ""


class GitHubAPI(RestService):
    """GitHub REST v3 (https://docs.github.com/en/rest):
    - GET /repos/{owner}/{repo} -> {"default_branch": ...}
      (https://docs.github.com/en/rest/repos/repos#get-a-repository)
    - GET /repos/{owner}/{repo}/commits/{ref} -> {"sha": ...}, or the bare SHA with
      `Accept: application/vnd.github.sha`; unknown ref -> 422 "No commit found for SHA: ..."
      (https://docs.github.com/en/rest/commits/commits#get-a-commit)
    - GET /repos/{owner}/{repo}/contents/{path}?ref= -> {"type": "file", "encoding": "base64",
      "content": ...} (https://docs.github.com/en/rest/repos/contents#get-repository-content)
    Auth `Authorization: token T` or `Bearer T`; a wrong token -> 401 "Bad credentials"; a private
    repository without a token -> 404 "Not Found" (GitHub hides private repositories).
    """

    DOCS = "https://docs.github.com/rest"

    def route(self, method: str, parts: List[str], query: Dict[str, str], headers: Any) -> tuple:
        caller = self.caller(_bearer(headers, "token", "bearer"))
        if caller == "bad":
            return 401, {"message": "Bad credentials", "documentation_url": self.DOCS, "status": "401"}
        if caller == "weak":
            return 403, {"message": "Resource not accessible by personal access token",
                         "documentation_url": self.DOCS, "status": "403"}
        not_found = (404, {"message": "Not Found", "documentation_url": self.DOCS, "status": "404"})
        if len(parts) < 3 or parts[0] != "repos":
            return not_found
        name = f"{parts[1]}/{parts[2]}"
        repo = self.visible(name, caller)
        if repo is None:
            return not_found
        rest = parts[3:]
        if not rest:
            return 200, {"id": self.repos.names.index(name) + 1, "full_name": name,
                         "private": name not in self.public, "default_branch": repo.default_branch()}
        if rest[0] == "commits" and len(rest) >= 2:
            ref = "/".join(rest[1:])
            sha = repo.commit(ref)
            if sha is None:
                return 422, {"message": f"No commit found for SHA: {ref}",
                             "documentation_url": self.DOCS + "/commits/commits#get-a-commit", "status": "422"}
            if "vnd.github.sha" in headers.get("Accept", ""):
                return 200, sha
            return 200, {"sha": sha, "commit": {"message": repo.message(sha)}}
        if rest[0] == "contents" and len(rest) >= 2:
            path = "/".join(rest[1:])
            ref = query.get("ref") or repo.default_branch()
            sha = repo.commit(ref)
            if sha is None:
                return 404, {"message": f"No commit found for the ref {ref}",
                             "documentation_url": self.DOCS + "/repos/contents#get-repository-content",
                             "status": "404"}
            kind = repo.object_type(sha, path)
            if kind == "tree":
                return 200, [{"type": "file", "path": path + "/..."}]
            data = repo.blob(sha, path)
            if data is None:
                return not_found
            encoded = base64.b64encode(data).decode()
            content = "\n".join(encoded[i:i + 60] for i in range(0, len(encoded), 60)) + "\n"
            return 200, {"type": "file", "encoding": "base64", "size": len(data), "path": path,
                         "name": path.rsplit("/", 1)[-1], "content": content}
        return not_found


class GitLabAPI(RestService):
    """GitLab REST v4 (https://docs.gitlab.com/ee/api/rest/):
    - GET /api/v4/projects/:id (URL-encoded path `org%2Frepo`, or the numeric ID) -> default_branch
      (https://docs.gitlab.com/ee/api/projects.html#get-single-project)
    - GET /api/v4/projects/:id/repository/commits/:sha -> {"id": ...}; unknown -> 404 Commit Not Found
      (https://docs.gitlab.com/ee/api/commits.html#get-a-single-commit)
    - GET /api/v4/projects/:id/repository/files/:file_path/raw?ref= -> the raw bytes
      (https://docs.gitlab.com/ee/api/repository_files.html#get-raw-file-from-repository)
    Auth `PRIVATE-TOKEN: T` (or `Authorization: Bearer T`); wrong -> 401 {"message":"401 Unauthorized"};
    a token without the read_api scope -> 403 insufficient_scope; private project without a token
    -> 404 {"message":"404 Project Not Found"} (https://docs.gitlab.com/ee/api/rest/#status-codes).
    """

    def route(self, method: str, parts: List[str], query: Dict[str, str], headers: Any) -> tuple:
        token = headers.get("PRIVATE-TOKEN")
        caller = self.caller(token if token is not None else _bearer(headers, "bearer"))
        if caller == "bad":
            return 401, {"message": "401 Unauthorized"}
        if caller == "weak":
            return 403, {"error": "insufficient_scope",
                         "error_description": "The request requires higher privileges than provided by the access token.",
                         "scope": "api read_api"}
        if parts[:3] != ["api", "v4", "projects"] or len(parts) < 4:
            return 404, {"error": "404 Not Found"}
        name = self.repos.by_id(int(parts[3])) if parts[3].isdigit() else parts[3]
        repo = self.visible(name or "", caller)
        if repo is None:
            return 404, {"message": "404 Project Not Found"}
        rest = parts[4:]
        if not rest:
            return 200, {"id": self.repos.names.index(name) + 1, "path_with_namespace": name,
                         "default_branch": repo.default_branch()}
        if rest[:2] == ["repository", "commits"] and len(rest) == 3:
            sha = repo.commit(rest[2])
            if sha is None:
                return 404, {"message": "404 Commit Not Found"}
            return 200, {"id": sha, "short_id": sha[:8], "title": repo.message(sha)}
        if rest[:2] == ["repository", "files"] and len(rest) == 4 and rest[3] == "raw":
            sha = repo.commit(query.get("ref") or repo.default_branch())
            if sha is None:
                return 404, {"message": "404 Commit Not Found"}
            data = repo.blob(sha, rest[2])
            if data is None:
                return 404, {"message": "404 File Not Found"}
            return 200, data
        return 404, {"error": "404 Not Found"}


def _bitbucket_server_error(status: int, message: str, exception: str) -> tuple:
    return status, {"errors": [{"context": None, "message": message,
                                "exceptionName": f"com.atlassian.bitbucket.{exception}"}]}


class BitbucketServerAPI(RestService):
    """Bitbucket Server / Data Center REST 1.0
    (https://developer.atlassian.com/server/bitbucket/rest/v819/api-group-repository/):
    - GET /rest/api/1.0/projects/{key}/repos/{slug} and .../branches/default -> {"displayId", "latestCommit"}
    - GET .../commits/{commitId} -> {"id": ...}; unknown -> 404 NoSuchCommitException
    - GET .../raw/{path}?at={ref} -> raw bytes; missing -> 404 NoSuchPathException
    Errors are {"errors": [{"context": null, "message": ..., "exceptionName": ...}]}. Auth
    `Authorization: Bearer T` (HTTP access token); a wrong token -> 401
    IncorrectPasswordAuthenticationException; no token on a private repository -> 401
    AuthorisationException. Repositories are named 'PROJECT/slug' in the RepoSet.
    """

    def route(self, method: str, parts: List[str], query: Dict[str, str], headers: Any) -> tuple:
        caller = self.caller(_bearer(headers, "bearer"))
        if caller in ("bad", "weak"):
            return _bitbucket_server_error(401, "Authentication failed. Please check your credentials and try again.",
                                           "auth.IncorrectPasswordAuthenticationException")
        if parts[:4] != ["rest", "api", "1.0", "projects"] or len(parts) < 7 or parts[5] != "repos":
            return 404, "Not Found"
        project, slug, rest = parts[4], parts[6], parts[7:]
        name = f"{project}/{slug}"
        if caller == "anonymous" and name not in self.public and self.repos.get(name) is not None:
            return _bitbucket_server_error(401, "You are not permitted to access this resource",
                                           "AuthorisationException")
        if not any(n.startswith(project + "/") for n in self.repos.names):
            return _bitbucket_server_error(404, f"Project {project} does not exist.", "project.NoSuchProjectException")
        repo = self.visible(name, caller)
        if repo is None:
            return _bitbucket_server_error(404, f"Repository {project}/{slug} does not exist.",
                                           "repository.NoSuchRepositoryException")
        if not rest:
            return 200, {"slug": slug, "name": slug, "project": {"key": project}, "state": "AVAILABLE"}
        if rest == ["branches", "default"]:
            branch = repo.default_branch()
            return 200, {"id": f"refs/heads/{branch}", "displayId": branch, "type": "BRANCH",
                         "latestCommit": repo.commit(branch), "isDefault": True}
        no_commit = lambda ref: _bitbucket_server_error(  # noqa: E731
            404, f"Commit '{ref}' does not exist in repository '{slug}'.", "commit.NoSuchCommitException")
        if rest[0] == "commits" and len(rest) == 2:
            sha = repo.commit(rest[1])
            return (200, {"id": sha, "displayId": sha[:11], "message": repo.message(sha)}) if sha else no_commit(rest[1])
        if rest[0] == "raw" and len(rest) >= 2:
            ref = query.get("at") or repo.default_branch()
            sha = repo.commit(ref)
            if sha is None:
                return no_commit(ref)
            path = "/".join(rest[1:])
            data = repo.blob(sha, path)
            if data is None:
                return _bitbucket_server_error(404, f'The path "{path}" does not exist at revision "{sha}"',
                                               "content.NoSuchPathException")
            return 200, data
        return 404, "Not Found"


class BitbucketCloudAPI(RestService):
    """Bitbucket Cloud REST 2.0 (https://developer.atlassian.com/cloud/bitbucket/rest/):
    - GET /2.0/repositories/{workspace}/{repo_slug} -> {"mainbranch": {"name": ...}}
      (api-group-repositories)
    - GET /2.0/repositories/{workspace}/{repo_slug}/commit/{revision} -> {"hash": ...} (api-group-commits)
    - GET /2.0/repositories/{workspace}/{repo_slug}/src/{commit}/{path} -> raw bytes (api-group-source)
    Errors are {"type": "error", "error": {"message": ...}}: "Repository W/R not found",
    "No such file or directory: PATH". Auth is basic with username + app password; a wrong one ->
    401; a private repository without auth -> 404 (Bitbucket hides it). The 401 body is not
    relied on by the storage and only approximates the service's.
    """

    def __init__(self, repos: RepoSet, token: str, username: str, **kwargs: Any) -> None:
        self.username = username
        super().__init__(repos, token, **kwargs)

    @staticmethod
    def error(status: int, message: str) -> tuple:
        return status, {"type": "error", "error": {"message": message}}

    def route(self, method: str, parts: List[str], query: Dict[str, str], headers: Any) -> tuple:
        auth = headers.get("Authorization")
        user, password = _basic_credentials(auth or "")
        caller = "anonymous" if auth is None else "ok" if (user, password) == (self.username, self.token) else "bad"
        if caller == "bad":
            return self.error(401, "Access denied: invalid credentials")
        if parts[:2] != ["2.0", "repositories"] or len(parts) < 4:
            return self.error(404, "Resource not found")
        name, rest = f"{parts[2]}/{parts[3]}", parts[4:]
        repo = self.visible(name, caller)
        if repo is None:
            return self.error(404, f"Repository {name} not found")
        if not rest:
            return 200, {"type": "repository", "full_name": name, "is_private": name not in self.public,
                         "mainbranch": {"type": "branch", "name": repo.default_branch()}}
        if rest[0] == "commit" and len(rest) == 2:
            sha = repo.commit(rest[1])
            return (200, {"type": "commit", "hash": sha, "message": repo.message(sha)}) if sha else \
                self.error(404, f"Commit not found: {rest[1]}")
        if rest[0] == "src" and len(rest) >= 3:
            sha = repo.commit(rest[1])
            if sha is None:
                return self.error(404, "Changeset not found.")
            path = "/".join(rest[2:])
            data = repo.blob(sha, path)
            return (200, data) if data is not None else self.error(404, f"No such file or directory: {path}")
        return self.error(404, "Resource not found")


# Fixtures ------------------------------------------------------------------------------------------

@pytest.fixture
def git_repos(tmp_path) -> RepoSet:
    return RepoSet(str(tmp_path / "git-repos"))


def _running(server: LocalServer):
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def git_http_server(git_repos):
    """Real git smart HTTP on 127.0.0.1; clone URL `{url}/{name}.git`, password `token`."""
    yield from _running(GitHttpServer(git_repos, "ghp_" + secrets.token_hex(16)))


@pytest.fixture
def github_api(git_repos):
    yield from _running(GitHubAPI(git_repos, "ghp_" + secrets.token_hex(16), weak_token="ghp_" + secrets.token_hex(16)))


@pytest.fixture
def gitlab_api(git_repos):
    yield from _running(GitLabAPI(git_repos, "glpat-" + secrets.token_hex(10), weak_token="glpat-" + secrets.token_hex(10)))


@pytest.fixture
def bitbucket_server_api(git_repos):
    yield from _running(BitbucketServerAPI(git_repos, "BBDC-" + secrets.token_hex(16)))


@pytest.fixture
def bitbucket_cloud_api(git_repos):
    yield from _running(BitbucketCloudAPI(git_repos, "ATBB" + secrets.token_hex(16), username="flow-bot"))
