#!/bin/sh
# Reports each result line of a results.ktap as a LAVA test case:
# `ok N name` -> pass, `ok N name # SKIP reason` -> skip, `not ok N name` -> fail.
# LAVA test case names keep only letters, digits, '_', '.' and '-'.
# Usage: ktap-to-lava.sh <out>/<target>/results.ktap
set -eu
grep -E '^(not )?ok [0-9]+ ' "$1" | while IFS= read -r line; do
  case "$line" in
    "not ok "*) result=fail; rest=${line#not ok } ;;
    *"# SKIP"*) result=skip; rest=${line#ok } ;;
    *) result=pass; rest=${line#ok } ;;
  esac
  name=${rest#* }          # drop the test number
  name=${name%% # *}       # drop a directive
  lava-test-case "$(printf '%s' "$name" | tr -c 'A-Za-z0-9_.-' '_')" --result "$result"
done
