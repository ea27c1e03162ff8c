"""GitHub storage: the flow file read through the REST API at a commit.

https://docs.github.com/en/rest/repos/repos#get-a-repository (default_branch),
https://docs.github.com/en/rest/commits/commits#get-a-commit (ref -> sha; 422 for an unknown ref),
https://docs.github.com/en/rest/repos/contents#get-repository-content (base64 `content`).
"""
from __future__ import annotations

import base64
import binascii

from ..errors import FlowimgError
from .git_hosted import HostedGitStorage, read_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

DEFAULT_BASE_URL = "https://api.github.com"


class GitHub(HostedGitStorage):
    kind = "GitHub"
    default_secret = "GITHUB_ACCESS_TOKEN"
    not_found_statuses = (404, 422)   # GitHub answers 422 "No commit found for SHA: ..." for a bad ref
    accept = "application/vnd.github+json"

    def __init__(self, repo: str, path: str, ref: Optional[str] = None,
                 access_token_secret: Optional[str] = None, base_url: Optional[str] = None,
                 stored_as_script: bool = True) -> None:
        super().__init__(repo, path, ref, access_token_secret, stored_as_script)
        self.base_url = self.checked_base(base_url, "base_url")

    def settings(self) -> Dict[str, Any]:
        return {"repo": self.repo, "path": self.path, "ref": self.ref,
                "access_token_secret": self.access_token_secret, "base_url": self.base_url}

    def api_base(self) -> str:
        return (self.base_url or DEFAULT_BASE_URL).rstrip("/")

    def repo_url(self) -> str:
        return f"{self.api_base()}/repos/{self.quote(self.repo, safe='/')}"

    def commit_url(self, ref: str) -> str:
        return f"{self.repo_url()}/commits/{self.quote(ref)}"

    def sha_of(self, commit: Any) -> str:
        return str(commit["sha"])

    def file_url(self, location: str, sha: str) -> str:
        return f"{self.repo_url()}/contents/{self.quote(location, safe='/')}?ref={sha}"

    def file_bytes(self, body: bytes, location: str) -> bytes:
        data = read_json(body, f"{self.host()}'s answer")
        if not isinstance(data, dict) or data.get("type") != "file":
            raise FlowimgError(f"{location} in {self.source_label()} is not a file; path must name the flow file")
        if data.get("encoding") != "base64":
            raise FlowimgError(f"{location} in {self.source_label()} is too large for the contents API (over 1 MB)")
        try:
            return base64.b64decode(data["content"])
        except (binascii.Error, KeyError):
            raise FlowimgError(f"{self.host()} sent undecodable content for {location}") from None

    def auth_headers(self, credentials: List[str]) -> Dict[str, str]:
        return {"Authorization": f"token {credentials[0]}"}
