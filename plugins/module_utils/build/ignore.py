""".dockerignore: which files of a build context are sent to the build.

Patterns follow Docker's rules (moby/patternmatcher): ``*`` and ``?`` stay within one path
element, ``**`` spans any number of them, ``[...]`` is a character class, ``\\`` escapes;
each pattern is cleaned like a path (``./a/`` is ``a``, a leading ``/`` is dropped); a
pattern also matches everything below what it matches; ``!pattern`` re-includes, and the last
pattern that matches a path decides. Lines starting with ``#`` are comments.

    matcher = IgnoreMatcher.from_text(".git\\n*.log\\n!keep.log\\n")
    matcher.excludes("build/x.log")          # True
    for entry in walk_context("/src", matcher): ...

The walker never descends into an excluded directory unless an exception pattern could
re-include something below it; directories above a re-included file are yielded (before it)
even though they are excluded themselves, as the file could not exist without them.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..errors import BuildError

_BOM = "\ufeff"
_REGEX_SPECIAL = frozenset(".+()|{}$")


def go_clean(path: str) -> str:
    """Go's path.Clean: the shortest equivalent path, '.' for nothing."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(comp)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def read_patterns(text: str) -> list[str]:
    """The patterns of a .dockerignore file, as Docker reads it (comments and blank lines
    dropped, each pattern trimmed and cleaned, a leading '/' removed, '!' kept in front)."""
    if text.startswith(_BOM):
        text = text[1:]
    out: list[str] = []
    for line in text.split("\n"):
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


@dataclass(frozen=True)
class Pattern:
    text: str                 # the cleaned pattern, without '!'
    exclusion: bool           # a '!' pattern: it re-includes
    kind: str                 # exact | prefix | suffix | regex
    regex: re.Pattern[str] | None
    parts: tuple[str, ...]    # path elements, for the "could match below" test

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regex is not None
        return self.regex.match(path) is not None


def _check_syntax(p: str) -> None:
    """What Go's filepath.Match rejects: a trailing escape, an unclosed or empty class."""
    i = 0
    n = len(p)
    while i < n:
        ch = p[i]
        if ch == "\\":
            if i + 1 == n:
                raise ValueError("trailing backslash")
            i += 2
            continue
        if ch == "[":
            j = i + 1
            if j < n and p[j] == "^":
                j += 1
            start = j
            while j < n and (p[j] != "]" or j == start):
                if p[j] == "\\":
                    j += 1
                j += 1
            if j >= n:
                raise ValueError("unclosed character class")
            i = j + 1
            continue
        i += 1


def compile_pattern(raw: str) -> Pattern:
    p = go_clean(raw.strip())
    exclusion = p.startswith("!")
    if exclusion:
        if len(p) == 1:
            raise BuildError('illegal exclusion pattern: "!"', field="dockerignore", value=raw)
        p = p[1:]
    try:
        _check_syntax(p)
    except ValueError as exc:
        raise BuildError(f"invalid .dockerignore pattern {raw!r}: {exc}", field="dockerignore",
                         value=raw) from None
    rx = ["^"]
    kind = "exact"
    i = 0
    n = len(p)
    first = True
    in_class = False
    while i < n:
        ch = p[i]
        i += 1
        if in_class:
            # inside [...] everything is literal but a range '-', the closing ']' and a
            # leading '^' (negation)
            if ch == "]" and rx[-1] not in ("[", "[^"):
                in_class = False
                rx.append("]")
            elif ch == "^" and rx[-1] == "[":
                rx.append("[^")
                rx.pop(-2)
            elif ch == "-":
                rx.append("-")
            elif ch == "\\" and i < n:
                rx.append(re.escape(p[i]))
                i += 1
            else:
                rx.append(re.escape(ch))
            continue
        if ch == "*":
            if i < n and p[i] == "*":
                i += 1
                if i < n and p[i] == "/":
                    i += 1      # **/ is ** that ends at a separator
                if i == n:
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        rx.append(".*")
                        kind = "regex"
                else:
                    rx.append("(.*/)?")
                    kind = "regex"
                if first:
                    kind = "suffix"
            else:
                rx.append("[^/]*")
                kind = "regex"
        elif ch == "?":
            rx.append("[^/]")
            kind = "regex"
        elif ch in _REGEX_SPECIAL:
            rx.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                rx.append(re.escape(p[i]))
                i += 1
                kind = "regex"
            else:
                rx.append("\\\\")
        elif ch == "[":
            rx.append("[")
            in_class = True
            kind = "regex"
        elif ch == "]":
            rx.append(re.escape(ch))
            kind = "regex"
        else:
            rx.append(re.escape(ch) if ch in "\\^" else ch)
        first = False
    regex = None
    if kind == "regex":
        try:
            regex = re.compile("".join(rx) + r"\Z", re.DOTALL)
        except re.error as exc:
            raise BuildError(f"invalid .dockerignore pattern {raw!r}: {exc}", field="dockerignore",
                             value=raw) from None
    return Pattern(text=p, exclusion=exclusion, kind=kind, regex=regex, parts=tuple(p.split("/")))


class MatchInfo(NamedTuple):
    """Per-pattern results for a directory, handed down to its entries."""
    parent_matched: tuple[bool, ...]


_NO_INFO = MatchInfo(())


class IgnoreMatcher:
    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = [compile_pattern(p) for p in patterns if p.strip()]
        self.exclusions = any(p.exclusion for p in self.patterns)
        self._element_rx: dict[str, re.Pattern[str] | None] = {}

    @classmethod
    def from_text(cls, text: str) -> IgnoreMatcher:
        return cls(read_patterns(text))

    @classmethod
    def from_context(cls, context: str | os.PathLike[str], name: str = ".dockerignore") -> IgnoreMatcher:
        """The context's .dockerignore (none: nothing excluded)."""
        try:
            text = Path(context, name).read_text(encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError:
            return cls([])
        return cls.from_text(text)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def excludes(self, path: str) -> bool:
        """Whether ``path`` (relative to the context, '/'-separated) is left out."""
        path = go_clean(path)
        if path == ".":
            return False
        parents = path.split("/")[:-1]
        matched = False
        for pat in self.patterns:
            if pat.exclusion != matched:
                continue    # only a '!' can change a match, only a plain pattern a non-match
            hit = pat.match(path)
            if not hit and parents:
                prefix = ""
                for comp in parents:
                    prefix = prefix + "/" + comp if prefix else comp
                    if pat.match(prefix):
                        hit = True
                        break
            if hit:
                matched = not pat.exclusion
        return matched

    def match_with_parent(self, path: str, parent: MatchInfo = _NO_INFO) -> tuple[bool, MatchInfo]:
        """``excludes`` for a walk: the parent directory's MatchInfo saves re-matching its
        ancestors; returns the result and the info to hand to this path's entries."""
        if not parent.parent_matched:
            if "/" in path:
                # no information: compute the parent chain first
                info = _NO_INFO
                prefix = ""
                for comp in path.split("/")[:-1]:
                    prefix = prefix + "/" + comp if prefix else comp
                    _, info = self.match_with_parent(prefix, info)
                parent = info
        inherited = parent.parent_matched
        matched = False
        results: list[bool] = []
        for i, pat in enumerate(self.patterns):
            hit = inherited[i] if inherited else False
            if not hit:
                if pat.exclusion != matched:
                    results.append(False)
                    continue
                hit = pat.match(path)
            results.append(hit)
            if hit:
                matched = not pat.exclusion
        return matched, MatchInfo(tuple(results))

    def could_include_below(self, directory: str) -> bool:
        """Whether some exception pattern could re-include a path below ``directory``."""
        if not self.exclusions:
            return False
        dirs = go_clean(directory).split("/")
        return any(pat.exclusion and self._reaches_below(pat.parts, dirs) for pat in self.patterns)

    def _reaches_below(self, parts: tuple[str, ...], dirs: list[str]) -> bool:
        # Walk the pattern's elements over the directory's like an NFA: '**' eats any number of
        # elements. Anything odd ('**' glued to other text, '/' inside a class) answers yes:
        # descending costs time, never correctness, since every file is matched anyway.
        if any("**" in part and part != "**" for part in parts):
            return True
        states = self._closure({0}, parts)
        for name in dirs:
            nxt: set[int] = set()
            for s in states:
                if s >= len(parts):
                    continue
                if parts[s] == "**":
                    nxt.add(s)
                elif self._element_match(parts[s], name):
                    nxt.add(s + 1)
            states = self._closure(nxt, parts)
            if not states:
                return False
        return any(s < len(parts) for s in states)

    @staticmethod
    def _closure(states: set[int], parts: tuple[str, ...]) -> set[int]:
        out = set(states)
        for s in sorted(states):
            while s < len(parts) and parts[s] == "**":
                s += 1
                out.add(s)
        return out

    def _element_match(self, element: str, name: str) -> bool:
        if element not in self._element_rx:
            try:
                compiled = compile_pattern(element)
            except BuildError:
                return True      # a class split by '/': cannot tell, so descend
            self._element_rx[element] = compiled.regex if compiled.kind == "regex" else None
        rx = self._element_rx[element]
        return element == name if rx is None else rx.match(name) is not None


class ContextEntry(NamedTuple):
    path: str            # relative to the context, '/'-separated
    entry: os.DirEntry[str]

    def is_dir(self) -> bool:
        return self.entry.is_dir(follow_symlinks=False)


def walk_context(root: str | os.PathLike[str], matcher: IgnoreMatcher | None = None) -> Iterator[ContextEntry]:
    """The entries of a build context that the .dockerignore keeps, depth first, names in
    byte order; a directory comes before its contents. Symlinks are entries, never followed."""
    matcher = matcher or IgnoreMatcher([])
    yield from _walk(os.fspath(root), "", matcher, _NO_INFO, [])


def _walk(abs_dir: str, rel_dir: str, matcher: IgnoreMatcher, info: MatchInfo,
          pending: list[ContextEntry]) -> Iterator[ContextEntry]:
    with os.scandir(abs_dir) as it:
        entries = sorted(it, key=lambda e: os.fsencode(e.name))
    for entry in entries:
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        is_dir = entry.is_dir(follow_symlinks=False)
        if matcher.patterns:
            excluded, child_info = matcher.match_with_parent(rel, info)
        else:
            excluded, child_info = False, info
        item = ContextEntry(rel, entry)
        if not excluded:
            # directories above a re-included entry were excluded themselves: emit them now
            yield from pending
            pending.clear()
            yield item
            if is_dir:
                yield from _walk(entry.path, rel, matcher, child_info, pending)
        elif is_dir and matcher.could_include_below(rel):
            pending.append(item)
            depth = len(pending)
            yield from _walk(entry.path, rel, matcher, child_info, pending)
            if len(pending) >= depth:
                del pending[depth - 1:]     # nothing below was kept: forget this directory
