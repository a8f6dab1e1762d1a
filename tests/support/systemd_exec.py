"""How systemd reads an `ExecStart=` line, written from systemd.service(5) "Command lines" and
systemd.syntax(7) "Quoting", to check the unit files add-agent writes (and to start them in the
fake `systemctl`): words split at whitespace; single or double quotes group a word; C-style
escapes inside and outside quotes; `%%` is `%` (every other `%X` is a specifier); in an argument
(not the program), `$$` is `$`, and `$NAME` or `${NAME}` would be replaced from the environment."""
from __future__ import annotations

import re

ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b",
           "f": "\f", "v": "\v", "s": " "}
SPACE = " \t\n\r"


class ExecLineError(ValueError):
    """systemd would refuse the line, or read something other than what was written."""


def split(line: str) -> list[str]:
    """The argv systemd runs for this ExecStart value."""
    words = [_specifiers(w) for w in _words(line)]
    return words[:1] + [_dollars(w) for w in words[1:]]


def _words(line: str) -> list[str]:
    words, i, n = [], 0, len(line)
    while True:
        while i < n and line[i] in SPACE:
            i += 1
        if i == n:
            return words
        word, quote = [], None
        while i < n and (quote or line[i] not in SPACE):
            c = line[i]
            if c == "\\":
                if i + 1 == n:
                    raise ExecLineError(f"a backslash ends the line: {line!r}")
                nxt = line[i + 1]
                if nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", line[i + 2:i + 4]):
                    word.append(chr(int(line[i + 2:i + 4], 16)))
                    i += 4
                    continue
                if nxt not in ESCAPES:
                    raise ExecLineError(f"unknown escape \\{nxt} in {line!r}")
                word.append(ESCAPES[nxt])
                i += 2
                continue
            if quote is None and c in "'\"":
                quote = c
            elif c == quote:
                quote = None
            else:
                word.append(c)
            i += 1
        if quote:
            raise ExecLineError(f"unbalanced quoting: {line!r}")
        words.append("".join(word))


def _specifiers(word: str) -> str:
    out, i = [], 0
    while i < len(word):
        if word[i] == "%":
            if word[i + 1:i + 2] != "%":
                raise ExecLineError(f"specifier %{word[i + 1:i + 2]} in {word!r} would be replaced")
            i += 1
        out.append(word[i])
        i += 1
    return "".join(out)


def _dollars(word: str) -> str:
    out, i = [], 0
    while i < len(word):
        if word[i] == "$" and word[i + 1:i + 2] == "$":
            i += 1
        elif word[i] == "$" and re.match(r"[A-Za-z_{]", word[i + 1:i + 2]):
            raise ExecLineError(f"{word[i:i + 10]!r}... in {word!r} would be replaced from the environment")
        out.append(word[i])
        i += 1
    return "".join(out)
