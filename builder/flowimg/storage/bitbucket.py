"""Bitbucket storage: Bitbucket Server / Data Center by default, Bitbucket Cloud with `workspace`.

Server REST 1.0 (https://developer.atlassian.com/server/bitbucket/rest/): `.../branches/default`,
`.../commits/{commitId}`, `.../raw/{path}?at=`; bearer HTTP access token.
Cloud REST 2.0 (https://developer.atlassian.com/cloud/bitbucket/rest/api-group-repositories/ and
api-group-source/): `/repositories/{workspace}/{repo}` (mainbranch), `.../commit/{revision}`,
`.../src/{commit}/{path}`; basic auth with a username and an app password.
"""
from __future__ import annotations


from ..errors import FlowimgError
from .git_hosted import HostedGitStorage, NotFound, basic_auth, read_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

CLOUD_API = "https://api.bitbucket.org"


class Bitbucket(HostedGitStorage):
    kind = "Bitbucket"
    default_secret = "BITBUCKET_ACCESS_TOKEN"

    def __init__(self, project: Optional[str], repo: str, path: str, ref: Optional[str] = None,
                 host: Optional[str] = None, access_token_secret: Optional[str] = None,
                 workspace: Optional[str] = None, username_secret: Optional[str] = None,
                 app_password_secret: Optional[str] = None, stored_as_script: bool = True) -> None:
        super().__init__(repo, path, ref, access_token_secret, stored_as_script)
        host = self.checked_base(host, "host")
        if workspace and access_token_secret:
            raise FlowimgError(
                "Bitbucket Cloud (workspace=...) uses username_secret and app_password_secret, "
                "not access_token_secret; drop one of them"
            )
        if not workspace and (username_secret or app_password_secret):
            raise FlowimgError("username_secret and app_password_secret are for Bitbucket Cloud: pass workspace=...")
        # Prefect 1 took these without a host or project and failed only on use: a script that sets such a
        # storage still loads and runs here; registering, building or fetching says what is missing.
        self._incomplete = None
        if not workspace and not project:
            self._incomplete = "Bitbucket Server storage needs project=... (or workspace=... for Bitbucket Cloud)"
        elif not workspace and not host:
            self._incomplete = ("Bitbucket Server storage needs host='https://bitbucket.example.com' "
                                "(or workspace=... for Bitbucket Cloud)")
        self.project = project or None
        self.host_url = host or None
        self.workspace = workspace or None
        self.username_secret = username_secret or None
        self.app_password_secret = app_password_secret or None

    def settings(self) -> Dict[str, Any]:
        return {"project": self.project, "repo": self.repo, "path": self.path, "ref": self.ref,
                "host": self.host_url, "access_token_secret": self.access_token_secret,
                "workspace": self.workspace, "username_secret": self.username_secret,
                "app_password_secret": self.app_password_secret}

    def credential_secrets(self) -> List[Tuple[str, bool]]:
        if not self.workspace:
            return super().credential_secrets()
        return [(self.username_secret or "BITBUCKET_USERNAME", bool(self.username_secret)),
                (self.app_password_secret or "BITBUCKET_APP_PASSWORD", bool(self.app_password_secret))]

    def auth_headers(self, credentials: List[str]) -> Dict[str, str]:
        if self.workspace:
            return {"Authorization": basic_auth(credentials[0], credentials[1])}
        return {"Authorization": f"Bearer {credentials[0]}"}

    def api_base(self) -> str:
        if self._incomplete:
            raise FlowimgError(self._incomplete)
        return (self.host_url or CLOUD_API).rstrip("/")

    def repo_name(self) -> str:
        return f"{self.workspace or self.project}/{self.repo}"

    def repo_url(self) -> str:
        if self.workspace:
            return f"{self.api_base()}/2.0/repositories/{self.quote(self.workspace)}/{self.quote(self.repo)}"
        return f"{self.api_base()}/rest/api/1.0/projects/{self.quote(self.project)}/repos/{self.quote(self.repo)}"

    def default_branch_of(self, info: Any) -> str:
        return str(info["mainbranch"]["name"] if self.workspace else info["displayId"])

    def repo_info(self, credentials: List[str]) -> Any:
        """Server names its default branch at its own URL; Cloud inside the repository."""
        info = super().repo_info(credentials)
        if self.workspace:
            return info
        try:
            body = self.get(f"{self.repo_url()}/branches/default", credentials)
        except NotFound:
            raise FlowimgError(f"{self.source_label()} has no default branch yet: pass ref=...") from None
        return read_json(body, f"{self.host()}'s answer")

    def commit_url(self, ref: str) -> str:
        return f"{self.repo_url()}/{'commit' if self.workspace else 'commits'}/{self.quote(ref)}"

    def sha_of(self, commit: Any) -> str:
        return str(commit["hash"] if self.workspace else commit["id"])

    def file_url(self, location: str, sha: str) -> str:
        if self.workspace:
            return f"{self.repo_url()}/src/{sha}/{self.quote(location, safe='/')}"
        return f"{self.repo_url()}/raw/{self.quote(location, safe='/')}?at={sha}"
