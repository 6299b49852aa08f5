#!/usr/bin/env bash
# Checks that every C++ file follows the committed .clang-format (clang-format 14,
# Debian 12's). Usage: scripts/check-format.sh        check, list what differs
#                      scripts/check-format.sh --fix  reformat in place
set -euo pipefail
cd "$(dirname "$0")/.."
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cc' '*.h')
else  # an unpacked archive: every C++ file outside build directories
  mapfile -t files < <(find . -path './build*' -prune -o \( -name '*.cc' -o -name '*.h' \) -print)
fi
if [[ ${1:-} == --fix ]]; then
  clang-format-14 -i "${files[@]}"
  exit 0
fi
if ! clang-format-14 --dry-run --Werror "${files[@]}" 2>/tmp/duet-format.$$; then
  grep -o '^[^:]*\.\(cc\|h\):' /tmp/duet-format.$$ | sort -u | sed 's/:$//; s/^/  not formatted: /' >&2
  rm -f /tmp/duet-format.$$
  echo "duet: run scripts/check-format.sh --fix (clang-format 14) and commit the result" >&2
  exit 1
fi
rm -f /tmp/duet-format.$$
echo "duet: ${#files[@]} C++ files follow .clang-format"
