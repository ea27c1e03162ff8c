"""`.flowimgignore`: which files of a mapped folder stay out of the image, in .dockerignore syntax.

Globs (`*`, `?`, `[...]`), `**` for any number of folders, `!` to take a path back in, `#` comments.
The last rule that matches a path (or one of its folders) decides, as in Docker.
"""
from __future__ import annotations

import re
from typing import List, Pattern, Tuple

from ..record import Record

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
    verdict = False
    for rule in rules:
        if any(rule.regex.match(prefix) for prefix in prefixes):
            verdict = not rule.negate
    return verdict
