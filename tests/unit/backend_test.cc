#include "core/backend.h"

#include "core/event_loop.h"

#include <sys/select.h>

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace duet {
namespace {

TEST(Backend, NamesAreStable) {
  EXPECT_EQ(backendName(Backend::Epoll), "epoll");
  EXPECT_EQ(backendName(Backend::Poll), "poll");
  EXPECT_EQ(backendName(Backend::Select), "select");
  EXPECT_EQ(backendName(Backend::IoUring), "uring");
}

TEST(Backend, ParseRoundTripsForEveryBackend) {
  ASSERT_EQ(allBackends().size(), 4u);
  std::set<std::string> names;
  for (Backend b : allBackends()) {
    const auto parsed = parseBackend(backendName(b));
    ASSERT_TRUE(parsed.has_value()) << backendName(b);
    EXPECT_EQ(*parsed, b);
    names.emplace(backendName(b));
  }
  EXPECT_EQ(names.size(), 4u) << "names must be distinct";
}

TEST(Backend, AllBackendsOrderReactorsFirst) {
  const auto all = allBackends();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0], Backend::Epoll);
  EXPECT_EQ(all[1], Backend::Poll);
  EXPECT_EQ(all[2], Backend::Select);
  EXPECT_EQ(all[3], Backend::IoUring);
}

TEST(Backend, ParseRejectsEverythingElse) {
  for (const char* bad : {"EPOLL", "Epoll", "", "io_uring", "iouring", "epoll ", " poll", "sel",
                          "uring\n", "kqueue"}) {
    EXPECT_FALSE(parseBackend(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(Backend, Choices) { EXPECT_EQ(backendChoices(), "epoll|poll|select|uring"); }

TEST(Backend, ReactorOrProactor) {
  EXPECT_TRUE(isReactorBackend(Backend::Epoll));
  EXPECT_TRUE(isReactorBackend(Backend::Poll));
  EXPECT_TRUE(isReactorBackend(Backend::Select));
  EXPECT_FALSE(isReactorBackend(Backend::IoUring));
}

// A backend's descriptor limit is its loop's to tell (select's poller knows FD_SETSIZE).
std::optional<int> descriptorLimitOf(Backend backend) {
  LoopOptions options;
  options.backend = backend;
  return makeEventLoop(options)->descriptorLimit();
}

TEST(Backend, DescriptorLimit) {
  ASSERT_TRUE(descriptorLimitOf(Backend::Select).has_value());
  EXPECT_EQ(*descriptorLimitOf(Backend::Select), FD_SETSIZE);
  EXPECT_FALSE(descriptorLimitOf(Backend::Epoll).has_value());
  EXPECT_FALSE(descriptorLimitOf(Backend::Poll).has_value());
  try {
    EXPECT_FALSE(descriptorLimitOf(Backend::IoUring).has_value());
  } catch (const BackendUnavailable&) {
    // No ring on this machine (or built without liburing): nothing to ask.
  }
}

TEST(Backend, UnavailableIsARuntimeError) {
  try {
    throw BackendUnavailable("io_uring is disabled; use --backend epoll");
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "io_uring is disabled; use --backend epoll");
  }
}

}  // namespace
}  // namespace duet
