#include "core/loop_stats.h"

#include <cctype>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace duet {
namespace {

// Count of non-overlapping occurrences of `needle` in `hay`.
std::size_t occurrences(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t pos = hay.find(needle); pos != std::string::npos;
       pos = hay.find(needle, pos + needle.size()))
    ++n;
  return n;
}

// A strict little parser for the flat JSON object toJson() produces:
// {"key":"string" | number, ...}. Returns false on anything else.
bool parseFlatJson(const std::string& s, std::map<std::string, std::string>* out,
                   std::string* why) {
  std::size_t i = 0;
  auto fail = [&](const std::string& msg) {
    *why = msg + " at offset " + std::to_string(i);
    return false;
  };
  auto readString = [&](std::string* v) {
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\' || static_cast<unsigned char>(s[i]) < 0x20) return false;
      v->push_back(s[i++]);
    }
    if (i >= s.size()) return false;
    ++i;
    return true;
  };
  if (s.empty() || s[i++] != '{') return fail("expected '{'");
  bool first = true;
  while (i < s.size() && s[i] != '}') {
    if (!first && s[i++] != ',') return fail("expected ','");
    first = false;
    std::string key;
    if (!readString(&key)) return fail("bad key");
    if (i >= s.size() || s[i++] != ':') return fail("expected ':'");
    std::string value;
    if (i < s.size() && s[i] == '"') {
      if (!readString(&value)) return fail("bad string value");
    } else {
      const std::size_t start = i;
      if (i < s.size() && s[i] == '-') ++i;
      while (i < s.size() &&
             (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.' || s[i] == 'e'))
        ++i;
      if (i == start) return fail("expected a value");
      value = s.substr(start, i - start);
    }
    if (!out->emplace(key, value).second) return fail("duplicate key " + key);
  }
  if (i >= s.size() || s[i] != '}') return fail("expected '}'");
  if (i + 1 != s.size()) return fail("trailing bytes");
  return true;
}

// "k=v" pairs of one print() line.
std::map<std::string, std::string> parsePrint(const std::string& line) {
  std::map<std::string, std::string> kv;
  std::istringstream in(line);
  std::string word;
  in >> word;  // "stats"
  while (in >> word) {
    const auto eq = word.find('=');
    if (eq == std::string::npos) continue;
    EXPECT_TRUE(kv.emplace(word.substr(0, eq), word.substr(eq + 1)).second)
        << "duplicate key " << word;
  }
  return kv;
}

TEST(Counter, AddGetReset) {
  Counter c;
  EXPECT_EQ(c.get(), 0u);
  c.add();
  c.add(41);
  EXPECT_EQ(c.get(), 42u);
  c.addShared(8);
  EXPECT_EQ(c.get(), 50u);
  c.reset();
  EXPECT_EQ(c.get(), 0u);
}

TEST(Counter, AddSharedFromSeveralThreadsLosesNothing) {
  Counter c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) c.addShared();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.get(), 400000u);
}

TEST(LoopStats, SyscallNames) {
  EXPECT_EQ(syscallName(Syscall::Wait), "wait");
  EXPECT_EQ(syscallName(Syscall::Read), "read");
  EXPECT_EQ(syscallName(Syscall::Write), "write");
  EXPECT_EQ(syscallName(Syscall::Accept), "accept");
  EXPECT_EQ(syscallName(Syscall::Close), "close");
  EXPECT_EQ(syscallName(Syscall::Control), "control");
  EXPECT_EQ(syscallName(Syscall::Wakeup), "wakeup");
  std::set<std::string_view> names;
  for (int i = 0; i < static_cast<int>(Syscall::kCount); ++i)
    names.insert(syscallName(static_cast<Syscall>(i)));
  EXPECT_EQ(names.size(), static_cast<std::size_t>(Syscall::kCount));
}

TEST(LoopStats, CountsAndTotal) {
  LoopStats s;
  EXPECT_EQ(s.totalSyscalls(), 0u);
  s.count(Syscall::Read, 3);
  s.count(Syscall::Write);
  s.count(Syscall::Wait, 10);
  s.count(Syscall::Wakeup, 2);
  EXPECT_EQ(s.syscalls[static_cast<int>(Syscall::Read)].get(), 3u);
  EXPECT_EQ(s.syscalls[static_cast<int>(Syscall::Write)].get(), 1u);
  EXPECT_EQ(s.syscalls[static_cast<int>(Syscall::Accept)].get(), 0u);
  EXPECT_EQ(s.totalSyscalls(), 16u);
  s.wakeups.add(5);
  s.events.add(20);
  EXPECT_EQ(s.totalSyscalls(), 16u) << "non-syscall counters are not syscalls";
}

void fillSample(LoopStats& s) {
  s.count(Syscall::Wait, 7);
  s.count(Syscall::Read, 11);
  s.count(Syscall::Write, 13);
  s.wakeups.add(4);
  s.events.add(10);
  s.tasks.add(1);
  s.timersFired.add(2);
  s.bytesIn.add(1000);
  s.bytesOut.add(2000);
  s.accepted.add(3);
  s.uring.sqesSubmitted.add(17);
  s.uring.cqesReaped.add(19);
}

TEST(LoopStats, PrintIsOneLineOfKeyValuePairs) {
  LoopStats s;
  fillSample(s);
  std::ostringstream out;
  s.print(out, "io-1", "epoll-lt");
  const std::string line = out.str();
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(occurrences(line, "\n"), 1u);
  EXPECT_EQ(line.rfind("stats ", 0), 0u) << line;

  const auto kv = parsePrint(line);
  EXPECT_EQ(kv.at("loop"), "io-1");
  EXPECT_EQ(kv.at("mode"), "epoll-lt");
  EXPECT_EQ(kv.at("syscalls"), "31");
  EXPECT_EQ(kv.at("sys_wait"), "7");
  EXPECT_EQ(kv.at("sys_read"), "11");
  EXPECT_EQ(kv.at("sys_write"), "13");
  EXPECT_EQ(kv.at("sys_accept"), "0");
  EXPECT_EQ(kv.at("wakeups"), "4");
  EXPECT_EQ(kv.at("events"), "10");
  EXPECT_EQ(kv.at("bytes_in"), "1000");
  EXPECT_EQ(kv.at("bytes_out"), "2000");
  EXPECT_EQ(kv.at("accepted"), "3");
  EXPECT_EQ(kv.at("sqes"), "17");
  EXPECT_EQ(kv.at("cqes"), "19");
  EXPECT_EQ(std::stod(kv.at("events_per_wakeup")), 2.5);
}

TEST(LoopStats, PrintWithNoWakeupsDoesNotDivideByZero) {
  LoopStats s;
  s.events.add(3);
  std::ostringstream out;
  s.print(out, "main", "poll");
  const auto kv = parsePrint(out.str());
  ASSERT_TRUE(kv.count("events_per_wakeup"));
  EXPECT_EQ(std::stod(kv.at("events_per_wakeup")), 0.0);
}

TEST(LoopStats, JsonIsValidAndHasEveryKeyOnce) {
  LoopStats s;
  fillSample(s);
  const std::string json = s.toJson("uring-defer");
  std::map<std::string, std::string> obj;
  std::string why;
  ASSERT_TRUE(parseFlatJson(json, &obj, &why)) << why << "\n" << json;
  EXPECT_EQ(obj.at("mode"), "uring-defer");
  EXPECT_EQ(obj.at("syscalls"), "31");
  EXPECT_EQ(obj.at("sys_read"), "11");
  EXPECT_EQ(obj.at("sqes"), "17");

  // Every counter print() shows is in the JSON, exactly once, with the same value
  // (print's extra fields - the loop name and the derived ratio - excepted).
  std::ostringstream out;
  s.print(out, "x", "uring-defer");
  const auto kv = parsePrint(out.str());
  for (const auto& [key, value] : kv) {
    if (key == "loop" || key == "events_per_wakeup") continue;
    EXPECT_EQ(occurrences(json, "\"" + key + "\":"), 1u) << key;
    ASSERT_TRUE(obj.count(key)) << key;
    EXPECT_EQ(obj.at(key), value) << key;
  }
  for (const char* key :
       {"syscalls",       "wakeups",       "events",       "tasks",     "timers_fired",
        "bytes_in",       "bytes_out",     "reads",        "accepted",  "closed",
        "refused",        "accept_errors", "accept_shed",  "resets",    "output_overflows",
        "idle_evictions", "sqes",          "cqes",         "enters",    "enobufs",
        "recv_rearms",    "cq_overflows",  "cqes_dropped", "send_zc",   "sys_wait",
        "sys_read",       "sys_write",     "sys_accept",   "sys_close", "sys_control",
        "sys_wakeup"}) {
    EXPECT_EQ(occurrences(json, std::string("\"") + key + "\":"), 1u) << key;
  }
}

TEST(LoopStats, JsonOfFreshStatsIsAllZero) {
  LoopStats s;
  std::map<std::string, std::string> obj;
  std::string why;
  ASSERT_TRUE(parseFlatJson(s.toJson("select"), &obj, &why)) << why;
  for (const auto& [key, value] : obj) {
    if (key == "mode") continue;
    EXPECT_EQ(value, "0") << key;
  }
}

}  // namespace
}  // namespace duet
