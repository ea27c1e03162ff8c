"""`.flowimgignore`: which files of a mapped folder stay out of the image, in .dockerignore syntax.

Globs (`*`, `?`, `[...]`), `**` for any number of folders, `!` to take a path back in, `#` comments.
The last rule that matches a path (or one of its folders) decides, as in Docker.
"""
from __future__ import annotations

import functools
import re

from ..record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, List, Pattern, Tuple

IGNORE_FILE = ".flowimgignore"
# Never wanted in an image and often secret: repositories (tokens in .git/config), env files, venvs.
DEFAULT_PATTERNS = ("**/.git", "**/.env*", "**/.venv", "**/__pycache__", "**/*.pyc")


class Rule(Record):
    __slots__ = ("pattern", "negate", "regex")
    pattern: str
    negate: bool
    regex: Pattern[str]

    def __init__(self, pattern: str, negate: bool, regex: Pattern[str]) -> None:
        self.pattern, self.negate, self.regex = pattern, negate, regex


def _translate(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and "]" in pattern[i + 1:]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith(("!", "^")) else body).replace("\\", "\\\\") + "]")
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def parse_rules(lines: List[str]) -> Tuple[Rule, ...]:
    rules = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        negate = text.startswith("!")
        text = text[1:].strip() if negate else text
        text = re.sub(r"/+", "/", text).strip("/")
        if text.startswith("./"):
            text = text[2:]
        if text:
            rules.append(Rule(pattern=("!" if negate else "") + text, negate=negate,
                              regex=re.compile(_translate(text) + r"\Z", re.DOTALL)))
    return tuple(rules)


def ignored(rules: Tuple[Rule, ...], relpath: str) -> bool:
    """Whether the last rule matching this path (relative, / separated) or one of its folders excludes it."""
    parts = relpath.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for rule in reversed(rules):  # the first match from the end is the last rule that matches
        if any(map(rule.regex.match, prefixes)):
            return not rule.negate
    return False


def excluder(rules: Tuple[Rule, ...]) -> Callable[[str], bool]:
    """`ignored` for a walk that never goes into an ignored folder, so a path's folders matched no rule.

    With no `!pattern` only the path itself is then tried, against each rule's regex (one combined
    regex costs more to compile than it saves in one walk). A `!pattern` can take back a folder that a
    rule matched, and that rule still counts for what is below it: then every folder is tried."""
    if any(rule.negate for rule in rules):
        return functools.partial(ignored, rules)
    matchers = tuple(rule.regex.match for rule in rules)

    def excluded(relpath: str) -> bool:
        for match in matchers:
            if match(relpath):
                return True
        return False

    return excluded
