"""What a bisect compares: a step's draws read from its results.json, judged against GOOD's.

Three predicates, one shape: each turns one draw's observations into a value, and a
draw is good when its value is GOOD's.
    judged (default)    the observations an expectation judges (on GOOD or BAD), those
                        that were the same in every draw of GOOD (a measurement that
                        varies there is not a behaviour)
    --observation NAME  that observation's value
    --when EXPR         an expression over the observations, true or false

EXPR is parsed here, never evaluated by Python: names are observations, with numbers,
strings, true/false/none, comparisons (== != < <= > >= in, not in), and/or/not,
+ - * / and parentheses. A name the draw does not have is none.
"""
from __future__ import annotations

import ast
import json
import operator
import pathlib


class PredicateError(ValueError):
    """An expression or observation that cannot be used: bad input."""


_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
            ast.NotIn: lambda a, b: a not in b}
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_CONSTANTS = {"true": True, "false": False, "none": None, "True": True, "False": False, "None": None}


def parse_when(text: str) -> ast.expr:
    """The expression's tree, checked to hold only what evaluate() knows."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as error:
        raise PredicateError(f"--when {text!r}: not an expression ({error.msg}); e.g. 'reuse_wait_ms >= 900'") from None
    for node in ast.walk(tree):
        allowed = (ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare, ast.BinOp, ast.Name,
                   ast.Load, ast.Constant, ast.List, ast.Tuple, *_COMPARE, *_ARITHMETIC)
        if not isinstance(node, allowed):
            raise PredicateError(f"--when {text!r}: {type(node).__name__} is not allowed; use observation names, "
                                 "literals, comparisons, and/or/not and + - * /")
    return tree


def evaluate(tree: ast.expr, observations: dict):
    if isinstance(tree, ast.Constant):
        return tree.value
    if isinstance(tree, ast.Name):
        return _CONSTANTS[tree.id] if tree.id in _CONSTANTS else observations.get(tree.id)
    if isinstance(tree, (ast.List, ast.Tuple)):
        return [evaluate(element, observations) for element in tree.elts]
    if isinstance(tree, ast.BoolOp):
        values = (evaluate(value, observations) for value in tree.values)
        return all(values) if isinstance(tree.op, ast.And) else any(values)
    if isinstance(tree, ast.UnaryOp):
        value = evaluate(tree.operand, observations)
        return (not value) if isinstance(tree.op, ast.Not) else -value
    if isinstance(tree, ast.BinOp):
        return _ARITHMETIC[type(tree.op)](evaluate(tree.left, observations), evaluate(tree.right, observations))
    left = evaluate(tree.left, observations)
    for op, right_tree in zip(tree.ops, tree.comparators):
        right = evaluate(right_tree, observations)
        try:
            if not _COMPARE[type(op)](left, right):
                return False
        except TypeError:  # none or a string against a number: the comparison does not hold
            return False
        left = right
    return True


def draws(results_json: pathlib.Path, result_id: str) -> list[dict | None]:
    """One dict of observations per draw of `result_id`; None for a draw that did not pass
    (an error or a skip: it says nothing about the behaviour)."""
    document = json.loads(results_json.read_text())
    entry = next((e for e in document["results"] if e["id"] == result_id), None)
    if entry is None:
        return []
    repeats = entry.get("repeats") or {"runs": 1, "outcomes": [entry["outcome"]],
                                       "observations": {k: {"stable": True, "value": v}
                                                        for k, v in entry["observations"].items()}}
    out = []
    for index in range(repeats["runs"]):
        if repeats["outcomes"][index] != "passed":
            out.append(None)
            continue
        out.append({name: (o["value"] if o["stable"] else o["values"][index])
                    for name, o in repeats["observations"].items()})
    return out


def judged_names(results_json: pathlib.Path, result_id: str) -> set[str]:
    """The observations the catalogue's expectations judge for this result on that kernel."""
    document = json.loads(results_json.read_text())
    entry = next((e for e in document["results"] if e["id"] == result_id), None)
    if entry is None:
        return set()
    return {name for applied in entry["expectation"].get("applied", []) for name in applied.get("observations", [])}


class Predicate:
    """Turns a draw's observations into the value compared with GOOD's."""

    def __init__(self, observation: str | None = None, when: str | None = None, names: list[str] | None = None):
        self.observation, self.when = observation, when
        self.names = sorted(names or [])  # the default predicate's observations, fixed once GOOD is known
        self._tree = parse_when(when) if when else None

    def describe(self) -> str:
        if self.observation:
            return f"observation {self.observation}"
        if self.when:
            return f"when {self.when}"
        return "judged observations " + ", ".join(self.names)

    def value(self, observations: dict):
        if self.observation:
            return observations.get(self.observation)
        if self._tree is not None:
            return bool(evaluate(self._tree, observations))
        return {name: observations.get(name) for name in self.names}

    def to_json(self) -> dict:
        return {"observation": self.observation, "when": self.when, "names": self.names}

    @classmethod
    def from_json(cls, data: dict) -> "Predicate":
        return cls(data["observation"], data["when"], data["names"])


def same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def stable_names(draws_seen: list[dict], names: set[str]) -> list[str]:
    """Of `names`, those every draw saw with one value (and saw at all)."""
    seen = [d for d in draws_seen if d is not None]
    return sorted(n for n in names if seen and all(n in d for d in seen)
                  and all(same(d[n], seen[0][n]) for d in seen))


def text(value) -> str:
    """A value as a person reads it: JSON, strings unquoted."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
