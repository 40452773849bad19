#!/usr/bin/env bash
# One install step, quietly: its output goes to LOG, the terminal gets one line; on failure also
# the log's path and the tail of this step's output (minus pip's "Location ... is ignored" noise).
# usage: tools/install_step.sh LOG "what it does" command [args...]
set -u
log=$1 what=$2
shift 2
mkdir -p "$(dirname "$log")"
printf '\n==== %s  %s\n$ %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$what" "$*" >>"$log"
start=$(wc -c <"$log")
printf '  %s ...' "$what"
"$@" >>"$log" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
  echo " ok"
  exit 0
fi
echo " FAILED (exit $rc)"
{
  echo "  full output in $log; its last lines:"
  tail -c "+$((start + 1))" "$log" | grep -v "^WARNING: Location '.*' is ignored" | tail -n 25 |
    sed 's/^/    /'
} >&2
exit "$rc"
