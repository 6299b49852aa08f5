#include "path_groups.h"

#include <cstdint>

namespace duetload {

bool plainPath(const std::string& path) {
  for (unsigned char c : path)
    if (c <= 0x20 || c == '"' || c == '\\' || c == 0x7f) return false;
  return true;
}

bool parseMix(const std::string& text, PathGroup& out, std::string& error) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    error = "--http-mix takes PATH:CONNECTIONS (e.g. /hello:5), got '" + text + "'";
    return false;
  }
  out.path = text.substr(0, colon);
  const std::string count = text.substr(colon + 1);
  if (out.path.empty() || out.path[0] != '/') {
    error = "--http-mix '" + text + "': the path must start with '/'";
    return false;
  }
  if (!plainPath(out.path)) {
    error = "--http-mix '" + text + "': no spaces, quotes or backslashes in the path";
    return false;
  }
  try {
    size_t used = 0;
    out.connections = std::stoi(count, &used);
    if (used != count.size()) throw 0;
  } catch (...) {
    error = "--http-mix '" + text + "': '" + count + "' is not a connection count";
    return false;
  }
  if (out.connections < 1) {
    error = "--http-mix '" + text + "': needs at least one connection";
    return false;
  }
  return true;
}

// Each step every group earns its weight in credit; the richest group gets
// the connection and pays the total back. Over `total` steps every group is
// picked exactly its weight in times, as evenly spaced as integers allow.
std::vector<int> spreadGroups(const std::vector<PathGroup>& groups) {
  int64_t total = 0;
  for (const auto& g : groups) total += g.connections;
  std::vector<int64_t> credit(groups.size(), 0);
  std::vector<int> out;
  out.reserve(static_cast<size_t>(total));
  for (int64_t i = 0; i < total; ++i) {
    size_t best = 0;
    for (size_t g = 0; g < groups.size(); ++g) {
      credit[g] += groups[g].connections;
      if (credit[g] > credit[best]) best = g;
    }
    credit[best] -= total;
    out.push_back(static_cast<int>(best));
  }
  return out;
}

}  // namespace duetload
