"""`./tcprepro bisect`: where a result's behaviour changed, over Debian kernels, a patch
series or a git tree (harness/bisect/axes.py), one engine (engine.py), each step N draws
of the result on that step's kernel (runner.py), judged against GOOD (predicate.py).

Exit status: 0 found; 4 inconclusive (skipped or weak steps cover the answer; the
candidates are listed); 2 bad input (nothing to bisect: GOOD and BAD do not differ, a
patch does not apply, not a git tree, an unknown result id); 3 machinery; 130 interrupted
(`bisect --resume DIR` continues).
"""
from __future__ import annotations

import datetime
import os
import pathlib
import sys
import time

from harness.bisect import answer, axes, engine, predicate, runner, state as states

FOUND, BAD_INPUT, MACHINERY, INCONCLUSIVE, INTERRUPTED = 0, 2, 3, 4, 130


class BadInput(Exception):
    """Said in one line, exit 2."""


def _say(text: str) -> None:
    print(text, flush=True)


def start(args, result_ids: list[str], repo: pathlib.Path, side_by_side=None) -> int:
    """A new bisect from the command line's options (already parsed, not yet checked)."""
    if not args.k:
        raise BadInput("-k RESULT: give the result id to bisect; `./tcprepro list --variants` prints them")
    if args.k not in result_ids:
        close = [r for r in result_ids if r.startswith(args.k or "")][:5]
        raise BadInput(f"-k {args.k}: not a result id" + (f" (did you mean {', '.join(close)}?)" if close else "")
                       + "; `./tcprepro list --variants` prints them")
    if args.observation and args.when:
        raise BadInput("--observation and --when: give one of them")
    try:
        wanted = predicate.Predicate(args.observation, args.when)
    except predicate.PredicateError as error:
        raise BadInput(str(error)) from None
    if args.repeat < 1:
        raise BadInput(f"--repeat {args.repeat}: must be at least 1")
    out = (args.out or repo / "results" / f"bisect-{datetime.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}").resolve()
    if (out / states.FILE).exists():
        raise BadInput(f"--out {out} already holds a bisect; continue it with `bisect --resume {out}` "
                       "or choose another folder")
    axis, steps = _axis(args)
    out.mkdir(parents=True, exist_ok=True)
    state = {"schema": states.SCHEMA, "command": ["./tcprepro", *sys.argv[1:]], "result": args.k,
             "repeat": args.repeat, "axis": axis, "steps": steps,
             "run_options": {"accel": args.accel, "guest_timeout": args.guest_timeout},
             "predicate": None, "wanted": wanted.to_json(), "reference": None, "judged": {}, "order": [],
             "status": "running", "seconds": 0.0}
    states.save(out, state)
    _say(f"bisect of {args.k} over {len(steps)} steps ({len(steps) - 2} between GOOD and BAD); folder {out}")
    return run(out, state, side_by_side)


def _axis(args) -> tuple[dict, list[dict]]:
    from harness.kernels import kernel_build
    try:
        if args.tree:
            if len(args.ends) != 2:
                raise BadInput("--tree DIR GOOD_REV BAD_REV: give the two commits")
            tree = args.tree.resolve()
            steps = axes.git_steps(tree, *args.ends)
            return {"kind": "git", "tree": str(tree), "config": str(args.config.resolve()), "jobs": args.jobs}, steps
        if args.series:
            if args.ends:
                raise BadInput(f"--series: GOOD and BAD are the source without and with the series; "
                               f"leave out {' '.join(args.ends)}")
            if not args.source:
                raise BadInput("--series needs --from debian:<suite> or a kernel source folder")
            patches = axes.series_patches(args.series)
            kernel_build.check_fragment(args.config)
            source = (kernel_build.debian_source(args.source) if args.source.startswith("debian:")
                      else kernel_build.tree_source(pathlib.Path(args.source)))
            axes.check_series(source, patches)
            return ({"kind": "series", "source": args.source if args.source.startswith("debian:")
                     else str(pathlib.Path(args.source).resolve()),
                     "config": str(args.config.resolve()), "jobs": args.jobs},
                    axes.series_steps(patches))
        if len(args.ends) != 2:
            raise BadInput("give GOOD and BAD kernels (debian:<suite>[=<version>]), --series or --tree")
        return {"kind": "debian"}, axes.debian_steps(*args.ends, log=_say)
    except (axes.AxisError, kernel_build.BuildInputError) as error:
        raise BadInput(str(error)) from None


def resume(out: pathlib.Path, side_by_side=None) -> int:
    try:
        state = states.load(out.resolve())
    except states.StateError as error:
        raise BadInput(str(error)) from None
    if state["status"] in ("found", "inconclusive"):
        _say(f"{out}: this bisect has ended ({state['status']}); its answer is {out / 'answer.md'}")
        return FOUND if state["status"] == "found" else INCONCLUSIVE
    _say(f"resuming the bisect in {out}: {len(state['order'])} steps judged")
    return run(out.resolve(), state, side_by_side)


def run(out: pathlib.Path, state: dict, side_by_side=None) -> int:
    steps = state["steps"]
    bisection = engine.Bisection(len(steps), states.verdicts(state))
    step_runner = runner.StepRunner(out, state, log=lambda line: _say(f"  {line}"))
    state["status"] = "running"
    started = time.monotonic() - state["seconds"]
    try:
        try:
            while True:
                index = _next(bisection, state)
                if index is None:
                    break
                _progress(bisection, steps, index)
                record = _take(step_runner, out, state, index)
                state["judged"][str(index)] = record
                if index not in state["order"]:
                    state["order"].append(index)
                if state["predicate"] is None and all(str(i) in state["judged"] for i in (0, len(steps) - 1)):
                    _judge_ends(out, state)
                for judged, verdict in states.verdicts(state).items():
                    bisection.record(judged, verdict)
                if record.get("verdict") and index not in (0, len(steps) - 1):
                    _say(f"  {record['verdict']}: {_values_text(record)}")
                state["seconds"] = round(time.monotonic() - started, 1)
                states.save(out, state)
        except BadInput as error:
            state["status"] = "bad input"
            state["error"] = str(error)
            raise
        except runner.MachineryError as error:
            state["status"] = "machinery"
            state["error"] = str(error)
            print(f"tcprepro: error: {error}", file=sys.stderr)
            return MACHINERY
        finally:
            state["seconds"] = round(time.monotonic() - started, 1)
            states.save(out, state)
    except KeyboardInterrupt:
        state["status"] = "interrupted"
        states.save(out, state)
        print(f"\ntcprepro: bisect interrupted; continue with ./tcprepro bisect --resume {out}", file=sys.stderr)
        return INTERRUPTED
    outcome = bisection.outcome()
    state["status"] = outcome.status
    state["outcome"] = {"status": outcome.status, "last_good": outcome.last_good, "first_bad": outcome.first_bad,
                        "candidates": list(outcome.candidates)}
    states.save(out, state)
    written = answer.write(out, state, side_by_side)
    _say(answer.summary(state) + f"\nanswer: {written[0]}\n        {written[1]}")
    return FOUND if outcome.status == "found" else INCONCLUSIVE


def _next(bisection: engine.Bisection, state: dict) -> int | None:
    """GOOD and BAD first (both run before either is judged), then the engine's choice."""
    for index in (0, len(state["steps"]) - 1):
        if str(index) not in state["judged"]:
            return index
    return bisection.next_step()


def _progress(bisection: engine.Bisection, steps: list[dict], index: int) -> None:
    low, high = bisection.range()
    role = {0: "GOOD", len(steps) - 1: "BAD"}.get(index, "step")
    _say(f"[{role}] {steps[index]['label']} (range {steps[low]['label']} .. {steps[high]['label']}; "
         f"about {bisection.steps_left()} steps left)")


def _take(step_runner: runner.StepRunner, out: pathlib.Path, state: dict, index: int) -> dict:
    """One step: its kernel, N draws, and (once GOOD's value is known) its verdict; weak draws
    are drawn once more before the step is called weak."""
    step = state["steps"][index]
    folder = out / "steps" / f"{index:03d}-{step['name']}"
    record = {"verdict": None, "values": [], "not_run": 0, "runs": [], "kernel": None, "reason": None, "seconds": 0}
    started = time.monotonic()
    try:
        record["kernel"] = step_runner.kernel_spec(step)
    except runner.StepSkipped as error:
        return {**record, "verdict": engine.SKIP, "reason": str(error), "seconds": round(time.monotonic() - started, 1)}
    for attempt in range(2):
        drawn = step_runner.draw(record["kernel"], folder / ("run" if attempt == 0 else "more"), state["repeat"])
        record["runs"].append({"folder": str(drawn.folder.relative_to(out)), "status": drawn.status,
                               "seconds": drawn.seconds, "results": str(drawn.results.relative_to(out))
                               if drawn.results else None})
        if drawn.results is None:
            record["reason"] = runner.run_failure(drawn)
            if index in (0, len(state["steps"]) - 1) and drawn.status == BAD_INPUT:
                raise BadInput(f"{step['label']}: {record['reason']}")
        _read_values(out, state, record)
        if state["predicate"] is None or _verdict(state, record) != engine.WEAK:
            break
        _say(f"  draws disagree ({_values_text(record)}): {state['repeat']} more")
    if state["predicate"] is not None:
        record["verdict"] = _verdict(state, record)
    record["seconds"] = round(time.monotonic() - started, 1)
    return record


def _draws_of(out: pathlib.Path, state: dict, record: dict) -> list[dict | None]:
    found = []
    for run_record in record["runs"]:
        if run_record["results"]:
            found += predicate.draws(out / run_record["results"], state["result"])
    return found


def _read_values(out: pathlib.Path, state: dict, record: dict) -> None:
    draws = _draws_of(out, state, record)
    record["not_run"] = sum(1 for d in draws if d is None) + sum(state["repeat"] for r in record["runs"]
                                                                  if not r["results"])
    if state["predicate"] is not None:
        wanted = predicate.Predicate.from_json(state["predicate"])
        record["values"] = [wanted.value(d) for d in draws if d is not None]


def _verdict(state: dict, record: dict) -> str:
    if not record["values"]:
        return engine.SKIP
    goods = {predicate.same(value, state["reference"]) for value in record["values"]}
    if len(goods) > 1:
        return engine.WEAK
    return engine.GOOD if goods == {True} else engine.BAD


def _judge_ends(out: pathlib.Path, state: dict) -> None:
    """With GOOD's and BAD's draws in: what is compared, GOOD's value, and that BAD differs."""
    last = len(state["steps"]) - 1
    good, bad = state["judged"]["0"], state["judged"][str(last)]
    good_draws = [d for d in _draws_of(out, state, good) if d is not None]
    bad_draws = [d for d in _draws_of(out, state, bad) if d is not None]
    for name, record, seen in (("GOOD", good, good_draws), ("BAD", bad, bad_draws)):
        if not seen:
            raise runner.MachineryError(f"{name} {state['steps'][int(name == 'BAD') * last]['label']} gave no result: "
                                        f"{record['reason'] or 'every draw ended in an error or a skip'}")
    wanted = predicate.Predicate.from_json(state["wanted"])
    if not wanted.observation and not wanted.when:
        judged = set()
        for record in (good, bad):
            for run_record in record["runs"]:
                if run_record["results"]:
                    judged |= predicate.judged_names(out / run_record["results"], state["result"])
        names = sorted(set(predicate.stable_names(good_draws, judged)) & set(predicate.stable_names(bad_draws, judged)))
        if not names:
            raise BadInput(f"{state['result']}: no judged observation is the same in every draw of GOOD and of BAD; "
                           "choose one with --observation NAME or --when EXPR")
        wanted = predicate.Predicate(names=names)
    elif wanted.observation and not any(wanted.observation in d for d in good_draws + bad_draws):
        raise BadInput(f"--observation {wanted.observation}: {state['result']} has no such observation on GOOD or "
                       f"BAD; it has {', '.join(sorted(good_draws[0]))}")
    state["predicate"] = wanted.to_json()
    values = {}
    for name, record, seen in (("GOOD", good, good_draws), ("BAD", bad, bad_draws)):
        values[name] = [wanted.value(d) for d in seen]
        record["values"] = values[name]
    if any(not predicate.same(v, values["GOOD"][0]) for v in values["GOOD"]):
        raise BadInput(f"GOOD's draws disagree on {wanted.describe()}: {values['GOOD']}; "
                       "choose a steadier predicate (--observation or --when)")
    state["reference"] = values["GOOD"][0]
    good["verdict"] = engine.GOOD
    bad["verdict"] = _verdict(state, bad)
    _say(f"GOOD {state['steps'][0]['label']}: {wanted.describe()} = {predicate.text(state['reference'])}")
    _say(f"BAD  {state['steps'][last]['label']}: {', '.join(predicate.text(v) for v in values['BAD'])}")
    if bad["verdict"] == engine.GOOD:
        raise BadInput(f"GOOD and BAD do not differ on {wanted.describe()} (both {predicate.text(state['reference'])}); "
                       "nothing to bisect")
    if bad["verdict"] == engine.WEAK:
        raise BadInput(f"BAD's draws disagree on {wanted.describe()} ({_values_text(bad)}); "
                       "choose a steadier predicate or more --repeat")


def _values_text(record: dict) -> str:
    text = ", ".join(predicate.text(v) for v in record["values"]) or "no draw ran"
    if record["not_run"]:
        text += f" ({record['not_run']} draws did not run)"
    if record.get("reason"):
        text += f"; {record['reason']}"
    return text


def print_log(out: pathlib.Path) -> int:
    try:
        state = states.load(out.resolve())
    except states.StateError as error:
        raise BadInput(str(error)) from None
    print(answer.steps_text(state))
    return 0
