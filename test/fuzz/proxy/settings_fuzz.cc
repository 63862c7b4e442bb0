// lockstep-proxy's YAML configuration with flags. Invariant: a result is either settings or
// errors that each name a key.
#include <string>
#include <vector>

#include "proxy/settings.h"
#include "test/fuzz/proxy/fuzz_support.h"

using lockstep::proxy::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto r = lockstep::proxy::load_settings_from(text, {"--scalers=127.0.0.1:9090"});
  check(r.settings.has_value() != !r.errors.empty(), "settings xor errors");
  for (const auto& e : r.errors) check(e.find(": ") != std::string::npos, "error names a key");
  return 0;
}
