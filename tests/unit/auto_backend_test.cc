// --backend auto: io_uring where a uring loop can be set up on this machine,
// else epoll, with one line saying which and why. The "unavailable" side is
// forced with DUET_DISABLE_URING=1, the switch proactor/ring_setup.cc reads
// (the same one tests/proactor's RingUnavailableTest uses).
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "core/backend.h"
#include "core/event_loop.h"

namespace duet {
namespace {

// Sets DUET_DISABLE_URING for one test and removes it again, even when an
// assertion returns early.
class UringDisabledForThisTest {
 public:
  UringDisabledForThisTest() { ::setenv("DUET_DISABLE_URING", "1", 1); }
  ~UringDisabledForThisTest() { ::unsetenv("DUET_DISABLE_URING"); }
  UringDisabledForThisTest(const UringDisabledForThisTest&) = delete;
  UringDisabledForThisTest& operator=(const UringDisabledForThisTest&) = delete;
};

// Why a uring loop cannot be made here, or "" when it can.
std::string whyUringCannotRunHere() {
  LoopOptions uring;
  uring.backend = Backend::IoUring;
  try {
    makeEventLoop(uring);
  } catch (const BackendUnavailable& e) {
    return e.what();
  }
  return "";
}

TEST(AutoBackend, PicksUringWhereARingCanBeSetUp) {
  if (const std::string why = whyUringCannotRunHere(); !why.empty()) GTEST_SKIP() << why;
  const AutoBackendPick pick = pickAutoBackend();
  EXPECT_EQ(pick.backend, Backend::IoUring);
  EXPECT_EQ(pick.why, "io_uring set up");
  EXPECT_EQ(autoBackendAnnouncement(pick), "backend: uring (auto: io_uring set up)");
}

TEST(AutoBackend, PicksEpollAndSaysWhyWhenUringIsUnavailable) {
  UringDisabledForThisTest disabled;
  const AutoBackendPick pick = pickAutoBackend();
  EXPECT_EQ(pick.backend, Backend::Epoll);
  EXPECT_EQ(pick.why, "io_uring unavailable: disabled by DUET_DISABLE_URING=1");
  EXPECT_EQ(autoBackendAnnouncement(pick),
            "backend: epoll (auto: io_uring unavailable: disabled by DUET_DISABLE_URING=1)");
}

TEST(AutoBackend, ResolveAnnouncesAutoInOneLine) {
  UringDisabledForThisTest disabled;
  std::string announcement = "stale";
  const auto backend = resolveBackend("auto", &announcement);
  ASSERT_TRUE(backend.has_value());
  EXPECT_EQ(*backend, Backend::Epoll);
  EXPECT_EQ(announcement,
            "backend: epoll (auto: io_uring unavailable: disabled by DUET_DISABLE_URING=1)");
  EXPECT_EQ(announcement.find('\n'), std::string::npos);
}

TEST(AutoBackend, ResolveTakesEveryNamedBackendAsItIsWithoutAnnouncing) {
  for (Backend b : allBackends()) {
    std::string announcement = "stale";
    const auto backend = resolveBackend(backendName(b), &announcement);
    ASSERT_TRUE(backend.has_value()) << backendName(b);
    EXPECT_EQ(*backend, b);
    EXPECT_EQ(announcement, "") << backendName(b);
  }
}

TEST(AutoBackend, ResolveRejectsUnknownNames) {
  for (const char* bad : {"Auto", "AUTO", "", "auto ", "best", "kqueue"}) {
    std::string announcement;
    EXPECT_FALSE(resolveBackend(bad, &announcement).has_value()) << "'" << bad << "'";
  }
}

TEST(AutoBackend, FlagChoicesPutAutoFirst) {
  EXPECT_EQ(backendFlagChoices(), "auto|epoll|poll|select|uring");
}

}  // namespace
}  // namespace duet
