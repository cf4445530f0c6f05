#!/bin/sh
# Stand-in for the kernel's merge_config.sh: -m -O <dir> <base> <fragment>
set -eu
out=$3 base=$4 fragment=$5
grep -h '^CONFIG_\|^# CONFIG_' "$base" "$fragment" | awk -F'[= ]' '{k = ($1 == "#") ? $2 : $1; v[k] = $0} END {for (k in v) print v[k]}' | sort > "$out/.merged"
mv "$out/.merged" "$out/.config"
