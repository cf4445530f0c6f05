"""The answer of a bisect, written as answer.md and answer.html in its folder: the first bad
step and the last good one, every step taken, the two sides' differing observations and
ladders side by side, the report of the two runs (the report's own page, report/), and a
draft catalogue entry split where the behaviour changed."""
from __future__ import annotations

import ast
import html
import json
import pathlib

from harness.kernels import kernel
from harness.bisect import predicate

Table = tuple[list[str], list[list[str]]]


def _entry(out: pathlib.Path, record: dict, result_id: str) -> dict | None:
    for run in record["runs"]:
        if run["results"]:
            document = json.loads((out / run["results"]).read_text())
            found = next((e for e in document["results"] if e["id"] == result_id), None)
            if found:
                return {**found, "_results": run["results"]}
    return None


def what_changed(state: dict, index: int) -> str:
    """The step in the words a person acts on: package, patch, or commit id and subject."""
    step, kind = state["steps"][index], state["axis"]["kind"]
    if kind == "debian":
        return f"Debian package version {step['version']} ({step['spec']})"
    if kind == "series":
        if not step["patches"]:
            return "the source without the series"
        patch = pathlib.Path(step["patches"][-1])
        first = next((line.strip() for line in patch.read_text(errors="replace").splitlines() if line.strip()), "")
        return f"patch {patch.name} ({first})"
    return f"commit {step['commit'][:12]} \"{step['subject']}\""


def summary(state: dict) -> str:
    outcome = state["outcome"]
    good, bad = outcome["last_good"], outcome["first_bad"]
    if outcome["status"] == "found":
        return f"first bad: {what_changed(state, bad)}\nlast good: {what_changed(state, good)}"
    listed = "\n".join(f"  {what_changed(state, i)} ({state['judged'].get(str(i), {}).get('verdict', 'not run')})"
                       for i in outcome["candidates"])
    return (f"inconclusive: skipped or weak steps cover the answer; after {what_changed(state, good)}, "
            f"the first bad is one of:\n{listed}")


def steps_table(state: dict) -> Table:
    rows = []
    for number, index in enumerate(state["order"], 1):
        record = state["judged"][str(index)]
        values = ", ".join(predicate.text(v) for v in record["values"]) or "-"
        if record["not_run"]:
            values += f" ({record['not_run']} did not run)"
        rows.append([str(number), state["steps"][index]["label"], record.get("verdict") or "(pending)", values,
                     f"{record['seconds']:.0f}", (record.get("reason") or "")[:160],
                     record["runs"][0]["folder"] if record["runs"] else ""])
    return ["#", "step", "verdict", "values per draw", "s", "note", "folder"], rows


def steps_text(state: dict) -> str:
    head, rows = steps_table(state)
    lines = [f"bisect of {state['result']} ({state['status']}, {state['seconds']:.0f} s): "
             f"{len(state['order'])} of {len(state['steps'])} steps judged"]
    lines += ["  ".join(row[:6]).rstrip() for row in [head, *rows]]
    return "\n".join(lines)


def _names(state: dict) -> list[str]:
    wanted = state["predicate"]
    if wanted["observation"]:
        return [wanted["observation"]]
    if wanted["when"]:
        return sorted({node.id for node in ast.walk(ast.parse(wanted["when"], mode="eval"))
                       if isinstance(node, ast.Name) and node.id not in ("true", "false", "none")})
    return wanted["names"]


def _differing(good: dict, bad: dict) -> Table:
    names = [n for n in dict.fromkeys([*good["observations"], *bad["observations"]])
             if not predicate.same(good["observations"].get(n), bad["observations"].get(n))]
    rows = [[n, _short(good["observations"].get(n)), _short(bad["observations"].get(n))] for n in names]
    return ["observation", "last good", "first bad"], rows


def _short(value) -> str:
    text = predicate.text(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _toml(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def draft_entry(state: dict, good: dict, bad: dict) -> str:
    """The expectation split at the first bad step, as the catalogue writes it."""
    names = _names(state)
    bad_step = state["steps"][state["outcome"]["first_bad"]]
    kind = state["axis"]["kind"]
    if kind == "debian":
        split = kernel.format_version(kernel.parse_version(bad_step["version"]))
        kernels = (f"<{split}", f">={split}")
        source = (f"changed between Debian {state['steps'][state['outcome']['last_good']]['version']} and "
                  f"{bad_step['version']}: name the upstream commit (bisect the stable tree between them)")
    elif kind == "git":
        kernels = ("<VERSION", ">=VERSION")
        source = f"{bad_step['commit'][:12]} {bad_step['subject']}"
    else:
        kernels = ("<VERSION", ">=VERSION")
        patch = pathlib.Path(bad_step["patches"][-1])
        first = next((line.strip() for line in patch.read_text(errors="replace").splitlines() if line.strip()), "")
        source = f"{first} (patch {patch.name})"
    lines = [f"# {state['result']}: the expectation split where the bisect found the change"]
    for side, entry in ((kernels[0], good), (kernels[1], bad)):
        observed = {n: entry["observations"][n] for n in names if n in entry["observations"]}
        lines += ["  [[scenario.expect]]", f"  kernels = \"{side}\"", f"  observations = {_toml(observed)}",
                  f"  source = {json.dumps(source if side == kernels[1] else 'as before the change')}", ""]
    return "\n".join(lines).rstrip() + "\n"


def _ladders(entry: dict | None) -> list[str]:
    if not entry:
        return []
    base = pathlib.Path(entry["_results"]).parent
    return [str(base / e["path"]) for e in entry.get("evidence", []) if e.get("kind") == "ladder"]


def write(out: pathlib.Path, state: dict, side_by_side=None) -> tuple[pathlib.Path, pathlib.Path]:
    """`side_by_side(run folders, out folder)` renders the report of the two runs (cli/ passes the
    report's renderer: harness does not import reports) and returns its page, or None."""
    outcome = state["outcome"]
    good_record, bad_record = (state["judged"][str(outcome[k])] for k in ("last_good", "first_bad"))
    good, bad = _entry(out, good_record, state["result"]), _entry(out, bad_record, state["result"])
    sections: list[tuple[str, list]] = []
    wanted = predicate.Predicate.from_json(state["predicate"])
    head = [f"Result {state['result']}, compared on {wanted.describe()}; GOOD's value "
            f"{predicate.text(state['reference'])}; {state['repeat']} draws a step; {len(state['order'])} of "
            f"{len(state['steps'])} steps run in {state['seconds']:.0f} s.", ("code", summary(state))]
    if outcome["status"] == "found" and state["axis"]["kind"] == "debian":
        low, high = (state["steps"][outcome[k]] for k in ("last_good", "first_bad"))
        versions = [kernel.parse_version(step["version"]) for step in (low, high)]
        tags = [f"v{kernel.format_version(v)}" for v in versions]
        if versions[0][:2] != versions[1][:2]:  # different stable branches: mainline between their bases
            tags = [f"v{v[0]}.{v[1]}" for v in versions]
        head.append(f"The change lies between two adjacent packages, {low['version']} and {high['version']}: "
                    "no Debian kernel lies between them. Next: the upstream commits between them, with "
                    f"`./tcprepro bisect --tree <linux-stable tree> {tags[0]} {tags[1]} -k {state['result']}` "
                    "(a fix backported to a stable branch is found there, between its point releases).")
    sections.append(("Answer", head))
    sections.append(("Steps", [steps_table(state)]))
    if good and bad:
        report = side_by_side([out / pathlib.Path(e["_results"]).parent.parent for e in (good, bad)],
                              out / "report") if side_by_side else None
        report = str(pathlib.Path(report).relative_to(out)) if report else None
        body = [_differing(good, bad)]
        if report:
            body.append(f"Both runs in the report's own page: {report}")
        for label, entry in (("last good", good), ("first bad", bad)):
            body += [f"Ladder ({label}): {path}" for path in _ladders(entry)]
        sections.append(("Last good and first bad, side by side", body))
        if outcome["status"] == "found":
            sections.append(("Draft catalogue entry", [("code", draft_entry(state, good, bad))]))
    md, page = out / "answer.md", out / "answer.html"
    md.write_text(_markdown(state, sections))
    page.write_text(_html(state, sections))
    return md, page


def _markdown(state: dict, sections) -> str:
    lines = [f"# Where {state['result']} changed", ""]
    for title, body in sections:
        lines += [f"## {title}", ""]
        for part in body:
            if isinstance(part, tuple) and part[0] == "code":
                lines += ["```", part[1].rstrip(), "```", ""]
            elif isinstance(part, tuple):
                head, rows = part
                lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
                lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
                lines.append("")
            else:
                lines += [part, ""]
    return "\n".join(lines)


def _html(state: dict, sections) -> str:
    e = html.escape
    parts = [f"<!doctype html><meta charset=utf-8><title>bisect {e(state['result'])}</title>",
             "<style>body{font-family:sans-serif;max-width:80em;margin:1em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}"
             ".good{background:#e6f4e6}.bad{background:#fbe3e3}.skip,.weak{background:#f4f0d8}</style>",
             f"<h1>Where {e(state['result'])} changed</h1>"]
    for title, body in sections:
        parts.append(f"<h2>{e(title)}</h2>")
        for part in body:
            if isinstance(part, tuple) and part[0] == "code":
                parts.append(f"<pre>{e(part[1])}</pre>")
            elif isinstance(part, tuple):
                head, rows = part
                parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>")
                for row in rows:
                    css = row[2] if head[2] == "verdict" else ""
                    parts.append(f"<tr class='{e(css)}'>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
                parts.append("</table>")
            elif part.startswith("Ladder ("):
                label, path = part.split(": ", 1)
                parts.append(f"<figure><img src='{e(path)}' alt='{e(label)}'><figcaption>{e(label)}</figcaption></figure>")
            elif part.startswith("Both runs in the report's own page: "):
                link = part.split(": ", 1)[1]
                parts.append(f"<p>Both runs in the report's own page: <a href='{e(link)}'>{e(link)}</a></p>")
            else:
                parts.append(f"<p>{e(part)}</p>")
    return "\n".join(parts) + "\n"
