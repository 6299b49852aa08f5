# Sourced by the repository checks: lists the repository's files, one per line,
# relative to its root (the current directory). From git when this is a clone
# (only what is tracked: build directories and scratch files are not the
# repository); otherwise every file outside build*/ and .git/.
list_repository_files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files --cached --others --exclude-standard
  else
    find . -path ./.git -prune -o -path './build*' -prune -o -type f -print | sed 's|^\./||'
  fi
}
