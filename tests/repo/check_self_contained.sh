#!/usr/bin/env bash
# The repository stands on its own: no file may point at something a clone
# does not have. Fails on
#   - a relative path that climbs above the repository's root ("../x" from a
#     file's own directory: a link in Markdown, a path in a comment or script);
#   - the notes the project was first developed beside (a sibling directory's
#     BENCH-MARKING.md, cited by name), and absolute paths into the development
#     machine's /work tree.
# Test inputs under tests/fuzz/corpus and tests/fuzz/known are data, not
# references, and are skipped. docs/measuring.md holds what used to be cited.
#
# Usage: tests/repo/check_self_contained.sh [REPO_ROOT]   (exit 1 and a list on failure)
set -euo pipefail
cd "${1:-$(dirname "$0")/../..}"
root=$(pwd -P)
source tests/repo/tracked_files.sh

# Spelled in pieces so that this file does not match itself.
outside_names='(BENCH''MARKING\.md|(^|[^[:alnum:]_.])/wo''rk/)'
# A path that starts with ../ (after a quote, bracket, space, = or start of line).
relative_path='(^|[][[:space:]"'"'"'`(<=:,])(\.\./)+[^][:space:]"'"'"'`()<>,;]*'

problems=0
checked=0
while IFS= read -r file; do
  case $file in tests/fuzz/corpus/*|tests/fuzz/known/*) continue ;; esac
  [[ -f $file ]] || continue
  grep -Iq . "$file" 2>/dev/null || continue   # binary or empty
  checked=$((checked + 1))
  while IFS= read -r hit; do
    echo "$file:$hit: names a place outside the repository" >&2
    problems=$((problems + 1))
  done < <(grep -n -E "$outside_names" "$file" | cut -c1-160 || true)
  dir=$(dirname "$file")
  while IFS=: read -r line match; do
    path=${match#"${match%%../*}"}            # drop the character before ../
    resolved=$(realpath -m "$root/$dir/$path")
    if [[ $resolved != "$root" && $resolved != "$root"/* ]]; then
      echo "$file:$line: \"$path\" leads outside the repository" >&2
      problems=$((problems + 1))
    fi
  done < <(grep -n -o -E "$relative_path" "$file" || true)
done < <(list_repository_files)

if ((checked == 0)); then
  echo "check_self_contained: found no files to check" >&2
  exit 1
fi
if ((problems > 0)); then
  echo "check_self_contained: $problems reference(s) outside the repository" >&2
  exit 1
fi
echo "check_self_contained: $checked files, nothing points outside the repository"
