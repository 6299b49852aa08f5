"""duet-compare: the comparison engine of duet (see bench/compare/README.md)."""
