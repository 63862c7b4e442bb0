#pragma once

// A C++ description of the subset of argo-rollouts' argument types that the plugin reads, with
// Argo's field and type names, for tests that must send what the controller sends without Go.
// (The Go host in test/peers/plugin sends the full types.)

#include <string>

#include "rollout/plugin/gob_encoder.h"
#include "rollout/plugin/gob_value.h"

namespace lockstep::plugin::testing {

struct ArgoSpecs {
  using Spec = gob::TypeSpec;
  Spec time = Spec::opaque("Time");
  Spec labels = Spec::map_of("map[string]string", gob::string_spec(), gob::string_spec());
  Spec meta = Spec::structure("ObjectMeta", {{"Name", &gob::string_spec()},
                                             {"Namespace", &gob::string_spec()},
                                             {"Generation", &gob::int_spec()},
                                             {"CreationTimestamp", &time},
                                             {"Labels", &labels}});
  Spec plugins = Spec::map_of("map[string]json.RawMessage", gob::string_spec(), gob::bytes_spec());
  Spec managed_route = Spec::structure("MangedRoutes", {{"Name", &gob::string_spec()}});
  Spec managed_routes = Spec::slice_of("[]v1alpha1.MangedRoutes", managed_route);
  Spec routing = Spec::structure("RolloutTrafficRouting", {{"ManagedRoutes", &managed_routes},
                                                           {"Plugins", &plugins},
                                                           {"MaxTrafficWeight", &gob::int_spec()}});
  Spec canary = Spec::structure("CanaryStrategy", {{"CanaryService", &gob::string_spec()},
                                                   {"StableService", &gob::string_spec()},
                                                   {"TrafficRouting", &routing}});
  Spec strategy = Spec::structure("RolloutStrategy", {{"Canary", &canary}});
  Spec spec = Spec::structure("RolloutSpec", {{"Replicas", &gob::int_spec()}, {"Strategy", &strategy}});
  Spec dest = Spec::structure("WeightDestination", {{"Weight", &gob::int_spec()},
                                                    {"ServiceName", &gob::string_spec()},
                                                    {"PodTemplateHash", &gob::string_spec()}});
  Spec dests = Spec::slice_of("[]v1alpha1.WeightDestination", dest);
  Spec status = Spec::structure("RolloutStatus", {{"CurrentPodHash", &gob::string_spec()},
                                                  {"StableRS", &gob::string_spec()}});
  Spec rollout = Spec::structure("Rollout", {{"ObjectMeta", &meta}, {"Spec", &spec}, {"Status", &status}});
  Spec set_weight_args = Spec::structure("SetWeightAndVerifyWeightArgs",
                                         {{"Rollout", &rollout},
                                          {"DesiredWeight", &gob::int_spec()},
                                          {"AdditionalDestinations", &dests}});
  Spec remove_args = Spec::structure("RemoveManagedRoutesArgs", {{"Rollout", &rollout}});

  ArgoSpecs() = default;
  ArgoSpecs(const ArgoSpecs&) = delete;
  ArgoSpecs& operator=(const ArgoSpecs&) = delete;

  void register_names(gob::Encoder& enc) const {
    enc.register_name("SetWeightAndVerifyWeightArgs", set_weight_args);
    enc.register_name("RemoveManagedRoutesArgs", remove_args);
  }

  static gob::Value rollout_value(const std::string& ns, const std::string& name,
                                  const std::string& plugin_config) {
    using gob::Value;
    Value meta_v = Value::of_struct();
    meta_v.set("Name", Value::of_string(name));
    meta_v.set("Namespace", Value::of_string(ns));
    meta_v.set("Generation", Value::of_int(3));
    Value plugins_v = Value::of_map();
    plugins_v.map_put(Value::of_string("lockstep/http"), Value::of_bytes(plugin_config));
    Value routing_v = Value::of_struct();
    routing_v.set("Plugins", std::move(plugins_v));
    Value canary_v = Value::of_struct();
    canary_v.set("CanaryService", Value::of_string(name + "-canary"));
    canary_v.set("StableService", Value::of_string(name + "-stable"));
    canary_v.set("TrafficRouting", std::move(routing_v));
    Value strategy_v = Value::of_struct();
    strategy_v.set("Canary", std::move(canary_v));
    Value spec_v = Value::of_struct();
    spec_v.set("Replicas", Value::of_int(4));
    spec_v.set("Strategy", std::move(strategy_v));
    Value ro = Value::of_struct();
    ro.set("ObjectMeta", std::move(meta_v));
    ro.set("Spec", std::move(spec_v));
    ro.set("Status", Value::of_struct());
    return ro;
  }

  static gob::Value set_weight(gob::Value rollout, int64_t weight) {
    gob::Value a = gob::Value::of_struct();
    a.set("Rollout", std::move(rollout));
    a.set("DesiredWeight", gob::Value::of_int(weight));
    return gob::Value::of_interface("SetWeightAndVerifyWeightArgs", std::move(a));
  }
};

}  // namespace lockstep::plugin::testing
