// CPU cost of the plugin's protocol work per call, in process (no sockets): decoding a
// controller's SetWeight request (Go-written bytes, full pod template) with and without the
// field selector, and encoding the reply.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <string>

#include "rollout/plugin/gob_decoder.h"
#include "rollout/plugin/net_rpc.h"
#include "rollout/plugin/plugin_methods.h"
#include "rollout/plugin/rollout_args.h"

namespace {

using namespace lockstep::plugin;

std::string fixture(const char* name) {
  std::ifstream in(std::string(LOCKSTEP_PLUGIN_FIXTURES) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What every call after the first costs: types known, one message per value. Decoding the
// stream's earlier requests primes the decoder.
struct Primed {
  std::string first;
  std::string steady;  // header + args of a later call (no definitions)
  Primed() {
    const std::string all = fixture("plugin_stream.gob");
    gob::BufferSource src(all);
    gob::Decoder dec;
    gob::Value v;
    size_t before = 0;
    // Requests: InitPlugin, Type, UpdateHash (the Rollout's definitions), SetWeight (the
    // args type's definition), then VerifyWeight: the same args, nothing new to define.
    for (int i = 0; i < 4 * 2; ++i) dec.decode(src, v);
    before = all.size() - src.remaining();
    dec.decode(src, v);
    dec.decode(src, v);  // VerifyWeight header + SetWeightAndVerifyWeightArgs
    first = all.substr(0, before);
    steady = all.substr(before, all.size() - src.remaining() - before);
  }
};

void decode_steady(benchmark::State& state, bool select) {
  static const Primed primed;
  gob::Decoder dec;
  gob::BufferSource prime(primed.first);
  gob::Value v;
  while (dec.decode(prime, v)) {
  }
  for (auto _ : state) {
    gob::BufferSource src(primed.steady);
    gob::Value header;
    gob::Value args;
    dec.decode(src, header);
    dec.decode(src, args, select ? &plugin_args_selector() : nullptr);
    RolloutRef ro;
    std::string error;
    if (!read_rollout(args.concrete()["Rollout"], ro, error)) state.SkipWithError(error.c_str());
    benchmark::DoNotOptimize(ro);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * primed.steady.size()));
}

void BM_DecodeSetWeight_Selected(benchmark::State& s) { decode_steady(s, true); }
void BM_DecodeSetWeight_FullTree(benchmark::State& s) { decode_steady(s, false); }

void BM_DecodeFirstCall_243Definitions(benchmark::State& state) {
  const std::string bytes = fixture("set_weight_first.gob");
  for (auto _ : state) {
    gob::Decoder dec;
    gob::BufferSource src(bytes);
    gob::Value header;
    gob::Value args;
    dec.decode(src, header);
    dec.decode(src, args, &plugin_args_selector());
    benchmark::DoNotOptimize(args);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
}

void BM_EncodeReply(benchmark::State& state) {
  gob::Encoder enc;
  std::string warm;
  enc.encode(warm, rpc_response_spec(), gob::Value::of_struct());
  enc.encode(warm, rpc_error_spec(), gob::Value::of_struct());
  for (auto _ : state) {
    std::string out;
    gob::Value r = gob::Value::of_struct();
    r.set("ServiceMethod", gob::Value::of_string("Plugin.SetWeight"));
    r.set("Seq", gob::Value::of_uint(1234));
    enc.encode(out, rpc_response_spec(), r);
    enc.encode(out, rpc_error_spec(), gob::Value::of_struct());
    benchmark::DoNotOptimize(out);
  }
}

BENCHMARK(BM_DecodeSetWeight_Selected);
BENCHMARK(BM_DecodeSetWeight_FullTree);
BENCHMARK(BM_DecodeFirstCall_243Definitions);
BENCHMARK(BM_EncodeReply);

}  // namespace

BENCHMARK_MAIN();
