#!/usr/bin/env bash
# The layering, checked: apps -> core <- reactor, proactor; backends/ alone
# knows every backend (makeEventLoop). Every target has the repository root on
# its include path, so the compiler would accept `#include "reactor/..."` in
# core/; this check is what keeps core backend-neutral and apps portable.
#
# Which top-level directories each directory's #includes may name:
#   core/      core/ only
#   apps/      core/ and apps/
#   reactor/   core/ and reactor/      proactor/  core/ and proactor/
# (backends/, bench/ and tests/ are not restricted.) An include that climbs out
# with "../" is refused everywhere in those directories: it would get around
# the rule.
#
# Usage: tests/repo/check_layering.sh [REPO_ROOT]   (exit 1 and a list on failure)
set -euo pipefail
cd "${1:-$(dirname "$0")/../..}"
source tests/repo/tracked_files.sh

allowed_for() {
  case $1 in
    core) echo "core" ;;
    apps) echo "core apps" ;;
    reactor) echo "core reactor" ;;
    proactor) echo "core proactor" ;;
  esac
}
project_dirs=" $(for d in */; do printf '%s ' "${d%/}"; done)"

violations=0
checked=0
while IFS= read -r file; do
  layer=${file%%/*}
  allowed=$(allowed_for "$layer")
  [[ -n $allowed ]] || continue
  case $file in *.h|*.hh|*.hpp|*.c|*.cc|*.cpp) ;; *) continue ;; esac
  checked=$((checked + 1))
  # #include "x/y.h" and #include <x/y.h>: the path and its line number.
  while IFS=: read -r line path; do
    if [[ $path == *../* ]]; then
      echo "$file:$line: #include \"$path\" climbs out of its directory" >&2
      violations=$((violations + 1))
      continue
    fi
    [[ $path == */* ]] || continue           # "x.h": beside the file itself
    top=${path%%/*}
    [[ $project_dirs == *" $top "* ]] || continue  # a system or third-party header
    if [[ " $allowed " != *" $top "* ]]; then
      echo "$file:$line: $layer/ may include only $allowed, not \"$path\"" >&2
      violations=$((violations + 1))
    fi
  done < <(grep -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]' "$file" |
           sed -E 's/^([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*["<]([^">]+)[">].*/\1:\2/')
done < <(list_repository_files)

if ((checked == 0)); then
  echo "check_layering: found no sources to check under core/ apps/ reactor/ proactor/" >&2
  exit 1
fi
if ((violations > 0)); then
  echo "check_layering: $violations include(s) break the layering (see the comment at the top of $0)" >&2
  exit 1
fi
echo "check_layering: $checked files, every #include within its layer"
