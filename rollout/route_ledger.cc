#include "rollout/route_ledger.h"

#include <deque>

namespace lockstep::rollout {
namespace {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Field tags of lockstep.v1.RouteTable (routes.proto): version = 1 and generation = 2 (varint),
// routes = 3 (length-delimited). Proto3 leaves zero scalars out, as protobuf's serializer does.
constexpr char kVersionTag = 0x08;
constexpr char kGenerationTag = 0x10;
constexpr char kRouteTag = 0x1a;

}  // namespace

v1::RouteTable RouteTableSnapshot::message() const {
  v1::RouteTable t;
  t.ParseFromString(wire);
  return t;
}

std::shared_ptr<const RouteTableSnapshot> make_snapshot(
    std::vector<std::shared_ptr<const ResolvedRoute>> routes, uint64_t generation) {
  auto s = std::make_shared<RouteTableSnapshot>();
  std::vector<uint64_t> hashes;
  hashes.reserve(routes.size());
  size_t bytes = 32;
  for (const auto& r : routes) {
    hashes.push_back(r->hash);
    bytes += r->wire.size() + 6;
  }
  s->version = combine_route_hashes(hashes);
  s->generation = generation;
  s->wire.reserve(bytes);
  s->wire.push_back(kVersionTag);
  put_varint(s->wire, s->version);
  if (generation != 0) {
    s->wire.push_back(kGenerationTag);
    put_varint(s->wire, generation);
  }
  s->header_bytes = s->wire.size();
  for (const auto& r : routes) {
    s->wire.push_back(kRouteTag);
    put_varint(s->wire, r->wire.size());
    s->wire.append(r->wire);
  }
  s->routes = std::move(routes);
  return s;
}

std::shared_ptr<const RouteTableSnapshot> RouteLedger::snapshot(uint64_t generation) const {
  std::vector<std::shared_ptr<const ResolvedRoute>> routes;
  routes.reserve(slots_.size());
  for (const auto& [_, slot] : slots_) {
    if (slot.resolved->route) routes.push_back(slot.resolved);
  }
  return make_snapshot(std::move(routes), generation);
}

void RouteLedger::unindex(const ObjectKey& key, const Slot& slot, std::set<Claim>& frontier) {
  auto drop = [&](std::map<ObjectKey, std::set<ObjectKey>>& index, const ObjectKey& object) {
    auto it = index.find(object);
    if (it == index.end()) return;
    it->second.erase(key);
    if (it->second.empty()) index.erase(it);
  };
  if (slot.candidate.rollout) drop(by_rollout_, *slot.candidate.rollout);
  for (const auto& svc : slot.candidate.services) drop(by_service_, svc);
  if (!slot.candidate.route) return;  // only routable candidates claim
  for (const auto& claim : slot.candidate.claims) {
    frontier.insert(claim);
    auto it = wanted_by_.find(claim);
    if (it == wanted_by_.end()) continue;
    it->second.erase(key);
    if (it->second.empty()) wanted_by_.erase(it);
  }
}

void RouteLedger::index(const ObjectKey& key, const Slot& slot, std::set<Claim>& frontier) {
  if (slot.candidate.rollout) by_rollout_[*slot.candidate.rollout].insert(key);
  for (const auto& svc : slot.candidate.services) by_service_[svc].insert(key);
  if (!slot.candidate.route) return;
  for (const auto& claim : slot.candidate.claims) {
    frontier.insert(claim);
    wanted_by_[claim].insert(key);
  }
}

RouteLedger::Update RouteLedger::apply(const ClusterView& view, const TriggerSpecs& specs,
                                       const ClusterChanges& changes, SplitMemory& memory) {
  Update out;
  // 1. The routes that read a changed object.
  std::set<ObjectKey> affected;
  if (changes.everything) {
    // Every route is resolved again and re-indexed: drop the indexes at once.
    for (const auto& [key, _] : slots_) affected.insert(key);
    for (const auto& [key, _] : specs) affected.insert(key);
    by_rollout_.clear();
    by_service_.clear();
    wanted_by_.clear();
  } else {
    affected.insert(changes.scaled_objects.begin(), changes.scaled_objects.end());
    auto add_readers = [&](const std::map<ObjectKey, std::set<ObjectKey>>& index,
                           const std::set<ObjectKey>& objects) {
      for (const auto& object : objects) {
        auto it = index.find(object);
        if (it != index.end()) affected.insert(it->second.begin(), it->second.end());
      }
    };
    add_readers(by_rollout_, changes.rollouts);
    add_readers(by_service_, changes.services);
  }

  // 2. Resolve them again, on their own.
  std::set<Claim> frontier;       // claims whose holder may change
  std::set<ObjectKey> unsettled;  // routes to arbitrate again
  for (const ObjectKey& key : affected) {
    auto slot_it = slots_.find(key);
    if (slot_it != slots_.end() && !changes.everything) unindex(key, slot_it->second, frontier);
    auto spec = specs.find(key);
    const bool live = spec != specs.end() && !spec->second.empty() && view.scaled_objects.count(key);
    if (!live) {
      if (slot_it != slots_.end()) {
        const std::string route_key = key.str();
        memory.forget(route_key);
        by_key_.erase(route_key);
        out.changed.push_back(route_key);
        slots_.erase(slot_it);
      }
      continue;
    }
    Slot& slot = slots_[key];
    slot.candidate = resolve_route(view, key, spec->second, memory, &out.invalid_annotations);
    slot.resolved.reset();  // settled below
    ++out.resolved;
    index(key, slot, frontier);
    unsettled.insert(key);
  }
  if (changes.everything) frontier.clear();  // every route is in `unsettled` already

  // 3. Every route that shares a claim, transitively, with a changed one: "the first key keeps
  // it" gives the same outcome within that group as over the whole table.
  std::deque<Claim> queue(frontier.begin(), frontier.end());
  std::set<Claim> seen(frontier.begin(), frontier.end());
  while (!queue.empty()) {
    const Claim claim = std::move(queue.front());
    queue.pop_front();
    auto it = wanted_by_.find(claim);
    if (it == wanted_by_.end()) continue;
    for (const ObjectKey& key : it->second) {
      if (!unsettled.insert(key).second) continue;
      for (const auto& other : slots_.at(key).candidate.claims) {
        if (seen.insert(other).second) queue.push_back(other);
      }
    }
  }
  RouteClaims claimed;
  for (const ObjectKey& key : unsettled) {  // key order
    Slot& slot = slots_.at(key);
    std::string clash = slot.candidate.route ? claim_route(slot.candidate, claimed) : std::string();
    if (slot.resolved && clash == slot.clash) continue;  // unchanged candidate and outcome
    slot.clash = std::move(clash);
    slot.resolved = settle_route(slot.candidate, slot.clash);
    const std::string route_key = key.str();
    by_key_[route_key] = slot.resolved;
    out.changed.push_back(route_key);
  }
  return out;
}

}  // namespace lockstep::rollout
