"""`./tcprepro list`: the scenarios and their claims, or the result ids (--variants, -k)."""
from __future__ import annotations

from cli.common import UsageError, _parse_selection, _selected_tests

def cmd_list(args) -> int:
    from harness.judge import catalogue
    if args.variants or args.k is not None:
        _parse_selection(args.k)
        if not (args.build_dir / "CMakeCache.txt").is_file():
            raise UsageError(f"no build in {args.build_dir}: result ids come from the built case programs; "
                             "run ci/setup.sh first")
        for test in _selected_tests(args.k, args.build_dir):
            print(test.id)
        return 0
    for family in catalogue.load():
        print(f"{family.id}  {family.title}  (program cases/{family.program})")
        for scenario in family.scenarios.values():
            print(f"  {scenario.id:<22} {scenario.title}")
            print(f"  {'':<22} {scenario.claim_kind}: {scenario.claim}")
    return 0
