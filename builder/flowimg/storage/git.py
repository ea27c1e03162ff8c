"""Git storage: a real `git clone` of any repository, so modules and files beside the flow come too.

The clone lives in a temporary folder only while the flow script runs (at load time); it is removed
afterwards, even on errors. Modules the script imports at its top are loaded by then and keep
working; importing sibling modules or reading files lazily inside a task at run time does not.
A token reaches git only through GIT_ASKPASS and the git process's environment, never its
arguments, the URL, a log or an error.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import urllib.parse

from ..deadline import network_timeout, timed_out
from ..errors import FlowimgError
from ..flow import Flow
from ..signals import exit_on_signals
from .git_hosted import GitScriptStorage, load_flows, redact_secrets, refuse_credentials_in_url

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..log import Log
    from typing import Any, Dict, Iterator, List, Optional, Tuple

DEFAULT_HOST = "github.com"
DEFAULT_TOKEN_USERNAME = "x-access-token"   # GitHub's name for token logins; GitLab and Gitea accept any
FULL_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
# git asks "Username for 'https://host:port': " and "Password for 'https://user@host:port': ".
# The token goes only to the configured scheme://host:port, never to a server a redirect names.
ASKPASS = r"""#!/bin/sh
where=${1#*\'}
where=${where%\'*}
case "$where" in *@*) where="${where%%://*}://${where##*@}" ;; esac
[ "$where" = "$FLOWIMG_GIT_ORIGIN" ] || exit 1
case "$1" in
  Username*) printf '%s\n' "$FLOWIMG_GIT_USERNAME" ;;
  *) printf '%s\n' "$FLOWIMG_GIT_TOKEN" ;;
esac
"""
SCHEMES = ("https", "http", "ssh", "git", "file")
SCP_FORM = re.compile(r"[\w.-]+@[\w.-]+:.+", re.DOTALL)
SHORT_FORM = re.compile(r"[\w.-]+(/[\w.-]+)+")
# Commands that talk to the remote, and so get the network deadline.
NETWORK_COMMANDS = ("clone", "fetch", "ls-remote")
PROMPTED_FOR = re.compile(r"for '([^']+)'")
# Lower-cased pieces of git's stderr -> what went wrong, first match wins.
FAILURES = [
    (("authentication failed", "invalid username or password", "http basic: access denied"), "rejected"),
    (("could not read username", "could not read password", "terminal prompts disabled",
      "permission denied (publickey"), "needs-token"),
    (("remote branch", "not our ref", "couldn't find remote ref", "no such remote ref",
      "unadvertised object"), "ref"),
    (("repository not found", "not found", "does not appear to be a git repository"), "repository"),
    (("could not resolve host", "failed to connect", "connection refused", "timed out",
      "unable to access", "could not read from remote repository"), "unreachable"),
]


def check_repo(repo: Any) -> None:
    """Refuse what git would read as an option, a transport it should not use, or a URL with a token.

    Accepted: scheme://... for the schemes in SCHEMES, user@host:path, an absolute path, org/repo.
    """
    if not isinstance(repo, str):
        raise FlowimgError(f"Git repo must be a string (a URL, user@host:path or org/repo), not {type(repo).__name__}")
    refuse_credentials_in_url(repo, "Git repo", "put the token in a secret (git_token_secret_name=...), "
                              "not in the repo URL", allow_username=True)
    wrong = FlowimgError("Git repo= is not a repository address (git could read it as an option or a transport): "
                         "use a URL (https://, ssh://, git://, file://), user@host:path, an absolute path or org/repo")
    if repo.startswith("-") or any(ord(c) < 32 or ord(c) == 127 for c in repo):
        raise wrong
    if "://" in repo:
        parts = urllib.parse.urlsplit(repo)
        host = parts.netloc.rsplit("@", 1)[-1]
        if parts.scheme.lower() not in SCHEMES or host.startswith("-") or (parts.scheme != "file" and not host):
            raise wrong
    elif not (SCP_FORM.fullmatch(repo) and not repo.split("@", 1)[1].startswith("-")
              or os.path.isabs(repo) or SHORT_FORM.fullmatch(repo)):
        raise wrong


class Git(GitScriptStorage):
    kind = "Git"

    def __init__(self, repo: str, flow_path: str, branch: Optional[str] = None, tag: Optional[str] = None,
                 commit: Optional[str] = None, git_token_secret_name: Optional[str] = None,
                 git_token_username: Optional[str] = None, clone_depth: Optional[int] = 1,
                 use_ssh: bool = False, stored_as_script: bool = True) -> None:
        super().__init__(repo, flow_path, stored_as_script)
        if len([r for r in (branch, tag, commit) if r]) > 1:
            raise FlowimgError("Git storage takes only one of branch, tag or commit")
        if commit and not FULL_SHA.match(commit):
            raise FlowimgError(f"commit '{commit}' must be a full 40-character SHA (git fetches no short SHAs)")
        if clone_depth is not None and (not isinstance(clone_depth, int) or clone_depth < 0):
            raise FlowimgError("clone_depth must be a whole number (0 or None for a full clone)")
        if use_ssh and git_token_secret_name:
            raise FlowimgError("use_ssh=True authenticates with SSH keys; drop git_token_secret_name or use_ssh")
        check_repo(repo)
        parts = urllib.parse.urlsplit(repo) if "://" in repo else None
        if use_ssh and parts is not None and parts.scheme in ("http", "https"):
            raise FlowimgError("use_ssh=True needs an SSH URL (git@host:org/repo.git) or the short form org/repo")
        self.branch = branch or None
        self.tag = tag or None
        self.commit = commit or None
        self.git_token_secret_name = git_token_secret_name or None
        self.git_token_username = git_token_username or None
        self.clone_depth = clone_depth
        self.use_ssh = bool(use_ssh)

    def settings(self) -> Dict[str, Any]:
        return {"repo": self.repo, "flow_path": self.path, "branch": self.branch, "tag": self.tag,
                "commit": self.commit, "git_token_secret_name": self.git_token_secret_name,
                "git_token_username": self.git_token_username, "clone_depth": self.clone_depth,
                "use_ssh": self.use_ssh}

    @property
    def url(self) -> str:
        """A full URL or scp-style address as given; 'org/repo' means GitHub."""
        repo = self.repo
        if "://" in repo or SCP_FORM.fullmatch(repo) or os.path.isabs(repo):
            return str(repo)
        return f"git@{DEFAULT_HOST}:{repo}.git" if self.use_ssh else f"https://{DEFAULT_HOST}/{repo}.git"

    def repo_name(self) -> str:
        return self.url

    def ref_label(self) -> str:
        return (f"branch {self.branch}" if self.branch else f"tag {self.tag}" if self.tag
                else f"commit {self.commit}" if self.commit else "default branch")

    def credential_secrets(self) -> List[Tuple[str, bool]]:
        return [(self.git_token_secret_name, True)] if self.git_token_secret_name else []

    def pin_to(self, sha: str) -> None:
        self.branch = self.tag = None
        self.commit = sha

    def host(self) -> str:
        """host[:port] of the remote, for messages; the URL itself for a local path."""
        url = self.url
        if "://" in url:
            return urllib.parse.urlsplit(url).netloc.rsplit("@", 1)[-1] or url
        return url.split("@", 1)[1].split(":", 1)[0] if SCP_FORM.fullmatch(url) else url

    def origin(self) -> str:
        """scheme://host[:port] as git names it in its credential prompts."""
        return f"{urllib.parse.urlsplit(self.url).scheme}://{self.host()}"

    # git ------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def session(self) -> Iterator[Tuple[Dict[str, str], List[str], str]]:
        """git's environment (an askpass script when there is a token), the values to redact, and a
        temporary folder that is removed afterwards, even on errors and on SIGTERM/SIGHUP."""
        if shutil.which("git") is None:
            raise FlowimgError(
                "Git storage needs the `git` command, which is not installed or not on PATH: "
                "install git (in an image: apt-get install -y git)"
            )
        token = self.credentials()
        env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ALLOW_PROTOCOL=":".join(SCHEMES))
        for name in ("GIT_ASKPASS", "SSH_ASKPASS", "FLOWIMG_GIT_TOKEN", "FLOWIMG_GIT_USERNAME", "FLOWIMG_GIT_ORIGIN"):
            env.pop(name, None)
        if self.use_ssh or self.url.startswith("ssh://") or "@" in self.url.split("/")[0]:
            env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        with exit_on_signals(), tempfile.TemporaryDirectory(prefix="flowimg-git-") as folder:
            if token:
                askpass = os.path.join(folder, "askpass.sh")
                with open(askpass, "w") as fh:
                    fh.write(ASKPASS)
                os.chmod(askpass, stat.S_IRWXU)
                env.update(GIT_ASKPASS=askpass, FLOWIMG_GIT_TOKEN=token[0], FLOWIMG_GIT_ORIGIN=self.origin(),
                           FLOWIMG_GIT_USERNAME=self.git_token_username or DEFAULT_TOKEN_USERNAME)
            yield env, token, folder

    def git(self, args: List[str], env: Dict[str, str], secrets: List[str], cwd: Optional[str] = None) -> str:
        """Run git; commands that reach the remote end at the network deadline, with their helpers."""
        command = ["git", "-c", "credential.helper=", "-c", "core.askPass=", "-c", "credential.useHttpPath=false",
                   *args]
        seconds = network_timeout() if args[0] in NETWORK_COMMANDS else None
        try:
            # A session of its own, so a time-out or an interrupt also ends git-remote-http and ssh.
            process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, universal_newlines=True, start_new_session=True)
        except FileNotFoundError:
            raise FlowimgError("Git storage needs the `git` command, which is not installed or not on PATH") from None
        try:
            stdout, stderr = process.communicate(timeout=seconds)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise timed_out(f"git {args[0]} from", self.host(), seconds or 0) from None
        except BaseException:
            _kill_group(process)
            raise
        if process.returncode != 0:
            raise self.failure(redact_secrets(stderr, secrets), secrets)
        return stdout

    def failure(self, stderr: str, secrets: List[str]) -> FlowimgError:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else "no message"
        low = stderr.lower()
        kind = next((k for words, k in FAILURES if any(w in low for w in words)), "other")
        host = self.host()
        prompted = [p for p in PROMPTED_FOR.findall(stderr) if "://" in p]
        elsewhere = [p for p in prompted if _origin_of(p) != self.origin()]
        if secrets and kind == "needs-token" and elsewhere:
            return FlowimgError(
                f"{self.url} sent git on to another server ({_origin_of(elsewhere[-1])}); flowimg gives the token "
                f"only to {self.origin()}: point repo= at the repository's own address"
            )
        if kind == "rejected" and secrets:
            return self.rejected(host, secrets, "")
        if kind in ("rejected", "needs-token"):
            return FlowimgError(
                f"{self.url} needs credentials: pass git_token_secret_name=... (a secret holding a token)"
                if not self.use_ssh else f"{self.url} refused the SSH key: {last}"
            )
        if kind == "ref":
            return self.ref_missing(self.branch or self.tag or self.commit or "HEAD")
        if kind == "repository":
            return FlowimgError(f"repository {self.url} not found: check repo=... ({last})")
        if kind == "unreachable":
            return FlowimgError(f"cannot reach {host or self.url}: {last}")
        return FlowimgError(f"git failed for {self.url}: {last}")

    def checkout(self, dest: str, env: Dict[str, str], secrets: List[str]) -> Tuple[str, str]:
        """Clone the configured ref into `dest`; return (commit SHA, what the ref was)."""
        depth = ["--depth", str(self.clone_depth)] if self.clone_depth else []
        if self.commit:
            self.git(["init", "-q", "--", dest], env, secrets)
            self.git(["fetch", "-q", *depth, "--", self.url, self.commit], env, secrets, cwd=dest)
            self.git(["checkout", "-q", "--detach", "FETCH_HEAD"], env, secrets, cwd=dest)
        else:
            ref = self.branch or self.tag
            self.git(["clone", "-q", *depth, *(["--branch", ref] if ref else []), "--", self.url, dest], env, secrets)
        sha = self.git(["rev-parse", "HEAD"], env, secrets, cwd=dest).strip()
        ref = self.branch or self.tag
        if not ref and not self.commit:
            ref = self.git(["rev-parse", "--abbrev-ref", "HEAD"], env, secrets, cwd=dest).strip()
        return sha, ref or sha

    def fetch(self, location: str, log: Log, load: bool) -> Tuple[Optional[Dict[str, Flow]], str]:
        with self.session() as (env, secrets, folder):
            clone = os.path.join(folder, "repo")
            sha, ref = self.checkout(clone, env, secrets)
            script = os.path.join(clone, location)
            if not os.path.isfile(script):
                raise self.path_missing(location, sha, ref)
            self.fetched(log, location, sha, ref)
            return (load_flows(script, None, self.kind, forget=clone) if load else None), sha

    def resolve_commit(self) -> Tuple[str, str]:
        if self.commit:
            return self.commit, self.commit
        if self.branch:
            refs, wanted = [f"refs/heads/{self.branch}"], self.branch
        elif self.tag:
            refs, wanted = [f"refs/tags/{self.tag}", f"refs/tags/{self.tag}^{{}}"], self.tag
        else:
            refs, wanted = ["HEAD"], "default branch"
        with self.session() as (env, secrets, _):
            out = self.git(["ls-remote", "--", self.url, *refs], env, secrets)
        found = {ref: sha for sha, ref in (line.split("\t", 1) for line in out.splitlines() if "\t" in line)}
        # An annotated tag points at a tag object; its peeled form (^{}) is the commit.
        sha = next((found[r] for r in reversed(refs) if r in found), None)
        if sha is None:
            raise self.ref_missing(wanted)
        return sha, wanted


def _origin_of(prompted: str) -> str:
    """scheme://host[:port] from a URL git named in a prompt, without the user part."""
    scheme, _, rest = prompted.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].rsplit('@', 1)[-1]}"


def _kill_group(process: "subprocess.Popen[str]") -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
