// The one main() of duet-micro. Logging is turned down so that a benchmark
// which trips a warning (a backend falling back, say) does not time stderr.
// Run e.g.:  duet-micro --benchmark_filter=Buffer  --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include "core/log.h"

int main(int argc, char** argv) {
  duet::setLogLevel(duet::LogLevel::Error);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
