#include "rollout/kube_api_source.h"

namespace lockstep::rollout {

// One (kind, namespace): the reflector and the handler that turns its JSON into typed objects.
class KubeApiSource::Feed final : public kube::Reflector::Handler {
 public:
  Feed(kube::KubeClient& client, ObjectKind kind, std::string ns,
       kube::Reflector::Options options, ObjectSink& sink, Logger log)
      : kind_(kind),
        ns_(std::move(ns)),
        sink_(sink),
        log_(std::move(log)),
        reflector_(client, resource_of(kind), std::move(options), *this) {}

  void start() { reflector_.start(); }
  void stop() { reflector_.stop(); }
  const kube::Reflector& reflector() const { return reflector_; }

  void on_list(std::vector<nlohmann::json>&& items, const std::string& resource_version) override {
    std::vector<AnyObject> objects;
    std::vector<ObjectKey> keep;
    objects.reserve(items.size());
    for (const auto& item : items) {
      ParsedObject p = parse_object_as(kind_, item);
      if (p.object) {
        objects.push_back(std::move(*p.object));
      } else if (p.error) {
        sink_.invalid(*p.error);
        if (!p.error->name.empty()) keep.push_back({p.error->ns, p.error->name});
      }
    }
    log_.info("listed", {{"kind", std::string(kind_name(kind_))},
                         {"namespace", ns_.empty() ? "*" : ns_},
                         {"objects", std::to_string(objects.size())},
                         {"resourceVersion", resource_version}});
    sink_.watch_event(kind_, "RELIST");
    sink_.replace(kind_, ns_, std::move(objects), keep);
  }

  void on_event(kube::WatchEvent&& ev) override {
    sink_.watch_event(kind_, kube::to_string(ev.type));
    if (ev.type == kube::WatchEvent::Type::kDeleted) {
      // Only the identity matters; a tombstone whose metadata is unreadable is reported.
      ObjectKey key;
      if (auto m = ev.object.find("metadata"); m != ev.object.end() && m->is_object()) {
        if (auto n = m->find("name"); n != m->end() && n->is_string()) key.name = *n;
        if (auto n = m->find("namespace"); n != m->end() && n->is_string()) key.ns = *n;
      }
      if (key.name.empty()) {
        sink_.invalid(ObjectError{std::string(kind_name(kind_)), key.ns, "", "metadata.name",
                                  "DELETED event without a name"});
        return;
      }
      sink_.remove(kind_, key);
      return;
    }
    ParsedObject p = parse_object_as(kind_, ev.object);
    if (p.object) {
      sink_.upsert(std::move(*p.object));
    } else if (p.error) {
      sink_.invalid(*p.error);
    }
  }

  void on_error(std::string_view error, bool gone) override {
    if (gone) {
      log_.info("watch expired; relisting", {{"kind", std::string(kind_name(kind_))},
                                             {"error", std::string(error)}});
    } else {
      log_.warn("list/watch failed; backing off", {{"kind", std::string(kind_name(kind_))},
                                                   {"error", std::string(error)}});
    }
  }

 private:
  const ObjectKind kind_;
  const std::string ns_;
  ObjectSink& sink_;
  Logger log_;
  kube::Reflector reflector_;
};

const kube::ResourceType& KubeApiSource::resource_of(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::kScaledObject:
      return kube::kScaledObjects;
    case ObjectKind::kRollout:
      return kube::kRollouts;
    case ObjectKind::kService:
      return kube::kServices;
    case ObjectKind::kEndpointSlice:
      return kube::kEndpointSlices;
  }
  return kube::kServices;
}

KubeApiSource::KubeApiSource(kube::KubeClient& client, Options options, Logger log)
    : client_(client), options_(std::move(options)), log_(std::move(log)) {}

KubeApiSource::~KubeApiSource() { stop(); }

void KubeApiSource::start(ObjectSink& sink) {
  if (!feeds_.empty()) return;
  std::vector<std::string> namespaces = options_.namespaces;
  if (namespaces.empty()) namespaces.push_back("");
  for (size_t k = 0; k < kObjectKinds; ++k) {
    for (const auto& ns : namespaces) {
      kube::Reflector::Options o = options_.reflector;
      o.ns = ns;
      o.label_selector = options_.label_selectors[k];
      feeds_.push_back(std::make_unique<Feed>(client_, static_cast<ObjectKind>(k), ns, o, sink,
                                              log_));
    }
  }
  for (auto& f : feeds_) f->start();
}

void KubeApiSource::stop() {
  for (auto& f : feeds_) f->stop();
}

bool KubeApiSource::synced() const {
  if (feeds_.empty()) return false;
  for (const auto& f : feeds_) {
    if (!f->reflector().has_synced()) return false;
  }
  return true;
}

uint64_t KubeApiSource::relists() const {
  uint64_t n = 0;
  for (const auto& f : feeds_) n += f->reflector().lists();
  return n;
}

std::string KubeApiSource::describe() const {
  std::string out = "kubernetes " + client_.config().server_url();
  if (!options_.namespaces.empty()) {
    out += " namespaces=";
    for (size_t i = 0; i < options_.namespaces.size(); ++i) {
      out += (i ? "," : "") + options_.namespaces[i];
    }
  }
  return out;
}

}  // namespace lockstep::rollout
