"""`-k`: which results a run (or a listing) takes, by result id.

An expression is words joined by `and`, `or`, `not` and parentheses. A word
selects a result id ("S3b-reuse1-loopback/ipv4", "S5-tcp_timestamps") when
  - the id starts with it: `S2` (every S2 scenario), `S3b-reuse1` (both S3b-reuse1
    scenarios), `S3b-reuse1-loopback` (that scenario), `S1a/ipv6_veth` (one result);
  - or the variant (after the '/') starts with it or has it as a '_'-separated
    part: `ipv6`, `veth`, `ipv4_loopback`.
A word ending in a digit never stops inside a number: `S1` does not select S10,
`S2` does not select S20 (and no word matches inside an id: `S2` never selects
S4d-retries2).
"""
from __future__ import annotations

import re
from typing import Callable

Selector = Callable[[str], bool]
_TOKEN = re.compile(r"\s*(?:(\()|(\))|([^\s()]+))")
_KEYWORDS = ("and", "or", "not")


class SelectionError(ValueError):
    """An expression that cannot be read; the message says where."""


def _starts(text: str, word: str) -> bool:
    return text.startswith(word) and not (word[-1:].isdigit() and text[len(word):len(word) + 1].isdigit())


def word_selects(word: str, result_id: str) -> bool:
    variant = result_id.partition("/")[2]
    return _starts(result_id, word) or bool(variant) and (_starts(variant, word) or word in variant.split("_"))


def _tokens(expression: str) -> list[str]:
    tokens, position = [], 0
    while position < len(expression):
        if not expression[position:].strip():
            break
        match = _TOKEN.match(expression, position)
        tokens.append(match.group(0).strip())
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, expression: str):
        self.expression = expression
        self.tokens = _tokens(expression)
        self.at = 0

    def fail(self, what: str) -> SelectionError:
        return SelectionError(f"-k {self.expression!r}: {what}; write result ids (`./tcprepro list --variants`) "
                              "joined by and, or, not and parentheses, e.g. -k 'S1a and not ipv6'")

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise self.fail("the expression ends too early")
        self.at += 1
        return token

    def parse(self) -> Selector:
        if not self.tokens:
            raise self.fail("empty expression")
        selector = self.either()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()!r}")
        return selector

    def either(self) -> Selector:
        return self.joined("or", self.both, any)

    def both(self) -> Selector:
        return self.joined("and", self.negation, all)

    def joined(self, keyword: str, operand: Callable[[], Selector], combine) -> Selector:
        """operand (keyword operand)*: 'a or b or c' with combine=any."""
        parts = [operand()]
        while self.peek() == keyword:
            self.take()
            parts.append(operand())
        return parts[0] if len(parts) == 1 else (lambda rid: combine(p(rid) for p in parts))

    def negation(self) -> Selector:
        if self.peek() == "not":
            self.take()
            inner = self.negation()
            return lambda rid: not inner(rid)
        return self.atom()

    def atom(self) -> Selector:
        token = self.take()
        if token == "(":
            inner = self.either()
            if self.take() != ")":
                raise self.fail("a '(' is not closed")
            return inner
        if token == ")" or token in _KEYWORDS:
            raise self.fail(f"unexpected {token!r}")
        return lambda rid: word_selects(token, rid)


def parse(expression: str | None) -> Selector:
    """A selector for the expression; None (no -k) selects everything. Raises SelectionError."""
    if expression is None:
        return lambda rid: True
    return _Parser(expression).parse()
