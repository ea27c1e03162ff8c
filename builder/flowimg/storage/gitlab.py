"""GitLab storage: the flow file read through the REST API v4 at a commit.

https://docs.gitlab.com/ee/api/projects.html#get-single-project (default_branch),
https://docs.gitlab.com/ee/api/commits.html#get-a-single-commit (ref -> id),
https://docs.gitlab.com/ee/api/repository_files.html#get-raw-file-from-repository.
"""
from __future__ import annotations


from .git_hosted import HostedGitStorage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Union

DEFAULT_HOST = "https://gitlab.com"


class GitLab(HostedGitStorage):
    kind = "GitLab"
    default_secret = "GITLAB_ACCESS_TOKEN"

    def __init__(self, repo: Union[str, int], path: str, ref: Optional[str] = None,
                 host: Optional[str] = None, access_token_secret: Optional[str] = None,
                 stored_as_script: bool = True) -> None:
        super().__init__(repo, path, ref, access_token_secret, stored_as_script)
        self.host_url = self.checked_base(host, "host")

    def settings(self) -> Dict[str, Any]:
        return {"repo": self.repo, "path": self.path, "ref": self.ref,
                "host": self.host_url, "access_token_secret": self.access_token_secret}

    def api_base(self) -> str:
        return (self.host_url or DEFAULT_HOST).rstrip("/")

    def repo_url(self) -> str:
        return f"{self.api_base()}/api/v4/projects/{self.quote(self.repo)}"   # org%2Frepo or an ID

    def commit_url(self, ref: str) -> str:
        return f"{self.repo_url()}/repository/commits/{self.quote(ref)}"

    def sha_of(self, commit: Any) -> str:
        return str(commit["id"])

    def file_url(self, location: str, sha: str) -> str:
        return f"{self.repo_url()}/repository/files/{self.quote(location)}/raw?ref={sha}"

    def auth_headers(self, credentials: List[str]) -> Dict[str, str]:
        return {"PRIVATE-TOKEN": credentials[0]}
