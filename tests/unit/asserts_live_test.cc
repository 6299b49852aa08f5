// Whether assert() is live in this build. CMake's optimized build types define
// NDEBUG, which compiles every assert out; the sanitizer and fuzz builds keep
// them (DUET_ASSERTS, on by default there, see the top CMakeLists.txt) so that
// the engine's invariant checks run under test. This test is how the test
// command knows that really happened: built with DUET_ASSERTS=ON it fails if
// NDEBUG crept back in, and it proves a failing assert aborts.
#include <gtest/gtest.h>

#include <cassert>

namespace {

TEST(AssertsLive, WheneverTheBuildAsksForThem) {
#if defined(DUET_EXPECT_ASSERTS) && defined(NDEBUG)
  FAIL() << "configured with DUET_ASSERTS=ON, yet NDEBUG is defined: asserts are compiled out "
            "(look for -DNDEBUG in the compile flags)";
#elif !defined(NDEBUG)
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(assert(false && "a live assert aborts"), "a live assert aborts");
#else
  GTEST_SKIP() << "NDEBUG build (DUET_ASSERTS=OFF): asserts are compiled out here";
#endif
}

}  // namespace
