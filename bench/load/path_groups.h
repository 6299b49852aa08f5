// --http-mix: which path each HTTP connection requests.
//
// Why groups: "does a slow request on some connections hurt the others?"
// (a cold-cache file read stalling a loop, say) needs both kinds of request
// in one run against one server, with the latency of each kind reported
// apart. Group 0 is --http PATH; each --http-mix PATH:N adds a group of N
// connections (per target), taken out of the -c connections.
#pragma once

#include <string>
#include <vector>

namespace duetload {

struct PathGroup {
  std::string path;
  int connections = 0;  // per target
};

// A path duet-load can put in a request line and use as a JSON key as it is:
// no spaces, quotes, backslashes or control characters.
bool plainPath(const std::string& path);

// "/hello:5" -> {"/hello", 5}. False (and `error` says why) if malformed:
// no ':' count, a count below 1, a path not starting with '/' or not plain.
bool parseMix(const std::string& text, PathGroup& out, std::string& error);

// Group i of a target's connection i (0 .. sum of connections - 1), spread
// so that every group's connections are interleaved with the others' (a
// smooth weighted round robin): the load threads each take a contiguous
// run of connection indexes, so each thread gets its share of every group.
std::vector<int> spreadGroups(const std::vector<PathGroup>& groups);

}  // namespace duetload
