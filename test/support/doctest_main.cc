// The doctest main shared by every test binary. CTest runs one case per process with
// --test-case=<name>; a name that no longer matches anything (renamed case, a ';' that CMake
// split) would otherwise "pass" with zero cases run, so that is an error here.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <string_view>

namespace {

// Written by the reporter on doctest's thread, read by main after run() returned.
std::atomic<int> g_cases_matched{-1};

struct MatchCounter : doctest::IReporter {
  explicit MatchCounter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    g_cases_matched.store(static_cast<int>(stats.numTestCasesPassingFilters), std::memory_order_relaxed);
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

DOCTEST_REGISTER_LISTENER("lockstep-match-counter", 1, MatchCounter);

int main(int argc, char** argv) {
  bool filtered = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg.starts_with("--test-case=") || arg.starts_with("-tc=")) filtered = true;
  }
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (context.shouldExit()) return result;
  if (filtered && g_cases_matched.load(std::memory_order_relaxed) == 0) {
    std::fprintf(stderr, "no test case matches the --test-case filter (a ';' in a case name?)\n");
    return 1;
  }
  return result;
}
