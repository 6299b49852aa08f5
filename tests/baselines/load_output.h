// Reading what the baselines and duet-load print: duet-load's JSON result
// line, and a baseline's "stats loop=raw ..." line. Shared by the baseline
// tests so each reads the same numbers the same way.
#pragma once

#include <cstdlib>
#include <string>

namespace duet::test {

// The number after "key": in a duet-load JSON line, or -1 if absent.
inline double num(const std::string& line, const std::string& key) {
  const std::string quoted = "\"" + key + "\":";
  const auto at = line.find(quoted);
  if (at == std::string::npos) return -1;
  return std::strtod(line.c_str() + at + quoted.size(), nullptr);
}

inline std::string lastJsonLine(const std::string& out) {
  std::string last;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t eol = out.find('\n', pos);
    if (eol == std::string::npos) eol = out.size();
    if (out[pos] == '{') last = out.substr(pos, eol - pos);
    pos = eol + 1;
  }
  return last;
}

// The number after " key=" in a baseline's --stats line, or -1.
inline double statsNumber(const std::string& out, const std::string& key) {
  const auto at = out.find(" " + key + "=");
  if (at == std::string::npos) return -1;
  return std::strtod(out.c_str() + at + key.size() + 2, nullptr);
}

}  // namespace duet::test
