#!/usr/bin/env bash
# Plan the serving of a model and gate the change on cost, in any CI: exits non-zero when the plan costs too much,
# misses its SLO, or the SLO has become infeasible. Leaves comment.md (a pull-request comment) behind.
set -euo pipefail

PROFILE=${PROFILE:-profiles/model.json}   # measured with `inferplan profile`
TRACE=${TRACE:-traces/last-week.csv}      # your traffic
SLO_MS=${SLO_MS:-20000}
BASELINE=${BASELINE:-plans/main.json}     # the plan committed on the main branch

go install github.com/inferplan/inferplan/cmd/inferplan@latest

# exit 4 here means no configuration meets the SLO: the message names the smallest SLO that does
inferplan plan --profile "$PROFILE" --trace "$TRACE" --slo-ms "$SLO_MS" -o plan.json --quiet > /dev/null

status=0
inferplan check --plan plan.json --format markdown > check.md || status=$?   # thresholds from ./inferplan.yaml
{
  cat check.md
  echo
  if [ -f "$BASELINE" ]; then inferplan diff "$BASELINE" plan.json --format markdown --monthly-requests 50000000; fi
} > comment.md
cat comment.md
exit "$status"   # 3: a threshold is broken
