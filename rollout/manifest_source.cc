#include "rollout/manifest_source.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "rollout/kube/kube_config.h"
#include "rollout/yaml_json.h"

namespace lockstep::rollout {
namespace fs = std::filesystem;

namespace {

bool manifest_extension(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

void add_document(const nlohmann::json& doc, std::string_view default_ns, ManifestContents& out,
                  int depth) {
  if (doc.is_null()) return;  // empty document ("---" at the end)
  if (doc.is_object() && depth == 0 && doc.contains("kind") && doc["kind"] == "List" &&
      doc.contains("items") && doc["items"].is_array()) {
    for (const auto& item : doc["items"]) add_document(item, default_ns, out, depth + 1);
    return;
  }
  // A document with none of apiVersion, kind and metadata is not a Kubernetes object (a program
  // config or Helm values file next to the manifests): not ours, like other kinds.
  if (doc.is_object() && !doc.contains("apiVersion") && !doc.contains("kind") &&
      !doc.contains("metadata")) {
    ++out.ignored;
    return;
  }
  ParsedObject parsed = parse_object(doc, default_ns);
  if (parsed.ignored) {
    ++out.ignored;
    return;
  }
  if (parsed.error) {
    const ObjectError& e = *parsed.error;
    for (ObjectKind k : {ObjectKind::kScaledObject, ObjectKind::kRollout, ObjectKind::kService,
                         ObjectKind::kEndpointSlice}) {
      if (e.kind == kind_name(k) && !e.name.empty()) out.invalid_keys.push_back({k, {e.ns, e.name}});
    }
    out.errors.push_back(std::move(*parsed.error));
    return;
  }
  out.objects.push_back(std::move(*parsed.object));
}

}  // namespace

ManifestContents parse_manifest(std::string_view text, std::string_view default_namespace) {
  ManifestContents out;
  std::vector<nlohmann::json> docs;
  if (!parse_yaml_documents(text, docs, out.yaml_error)) return out;
  for (const auto& doc : docs) add_document(doc, default_namespace, out, 0);
  return out;
}

ManifestSource::ManifestSource(Options options, Logger log)
    : options_(std::move(options)), log_(std::move(log)) {}

ManifestSource::~ManifestSource() { stop(); }

std::string ManifestSource::describe() const {
  std::string out = "manifests";
  for (size_t i = 0; i < options_.paths.size(); ++i) {
    out += i ? "," : " ";
    out += options_.paths[i];
  }
  return out;
}

bool ManifestSource::synced() const {
  std::lock_guard<std::mutex> lock(mu_);
  return loaded_;
}

std::map<std::string, std::string> ManifestSource::file_status() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::string> out = path_errors_;
  for (const auto& [path, st] : files_) out[path] = st.error;
  return out;
}

void ManifestSource::start(ObjectSink& sink) {
  sink_ = &sink;
  reload();
  if (options_.reload_interval.count() > 0 && !poller_.joinable()) {
    poller_ = std::thread([this] { poll_loop(); });
  }
}

void ManifestSource::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (poller_.joinable()) poller_.join();
}

void ManifestSource::poll_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (cv_.wait_for(lock, options_.reload_interval, [this] { return stopping_; })) return;
    lock.unlock();
    reload();
    lock.lock();
  }
}

std::vector<std::string> ManifestSource::list_files(std::vector<std::string>& problems) const {
  std::vector<std::string> files;
  for (const auto& path : options_.paths) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) {
      problems.push_back(path + ": does not exist");
      continue;
    }
    if (fs::is_directory(st)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(
               path, fs::directory_options::follow_directory_symlink |
                         fs::directory_options::skip_permission_denied,
               ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        // Skip dot entries: Kubernetes mounts ConfigMaps with "..data" symlink folders.
        const std::string name = it->path().filename().string();
        if (!name.empty() && name[0] == '.') {
          if (it->is_directory()) it.disable_recursion_pending();
          continue;
        }
        if (it->is_regular_file() && manifest_extension(it->path())) {
          found.push_back(it->path().string());
        }
      }
      if (ec) problems.push_back(path + ": " + ec.message());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(path);
    }
  }
  return files;
}

bool ManifestSource::reload() {
  std::vector<std::string> problems;
  const std::vector<std::string> files = list_files(problems);
  std::lock_guard<std::mutex> lock(mu_);
  bool changed = !loaded_;
  std::map<std::string, std::string> path_errors;
  for (const auto& p : problems) {
    const size_t colon = p.find(": ");
    path_errors[p.substr(0, colon)] = p.substr(colon + 2);
  }
  if (path_errors != path_errors_) {
    for (const auto& [path, error] : path_errors) {
      if (!path_errors_.count(path)) log_.error("manifest path unusable", {{"path", path}, {"error", error}});
    }
    path_errors_ = std::move(path_errors);
  }
  std::set<std::string> present(files.begin(), files.end());
  for (auto it = files_.begin(); it != files_.end();) {
    if (!present.count(it->first)) {
      log_.info("manifest file removed", {{"file", it->first}});
      it = files_.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  for (const auto& file : files) {
    struct stat st {};
    FileState& state = files_[file];
    if (::stat(file.c_str(), &st) != 0) {
      const std::string error = "cannot stat: " + std::string(std::strerror(errno));
      if (state.error != error) {
        state.error = error;
        log_.error("manifest file unreadable; keeping its last good objects",
                   {{"file", file}, {"error", error}});
      }
      continue;
    }
    const int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                          st.st_mtim.tv_nsec;
    if (mtime == state.mtime_ns && st.st_size == state.size && st.st_ino == state.inode) continue;
    state.mtime_ns = mtime;
    state.size = st.st_size;
    state.inode = st.st_ino;
    std::string text, error;
    if (!kube::read_small_file(file, text, error, 64 << 20)) {
      state.error = error;
      log_.error("manifest file unreadable; keeping its last good objects",
                 {{"file", file}, {"error", error}});
      continue;
    }
    ManifestContents contents = parse_manifest(text, options_.default_namespace);
    if (!contents.yaml_error.empty()) {
      state.error = contents.yaml_error;
      log_.error("manifest file does not parse; keeping its last good objects",
                 {{"file", file}, {"error", contents.yaml_error}});
      continue;
    }
    state.error.clear();
    for (const auto& e : contents.errors) {
      if (sink_) sink_->invalid(e);
      log_.warn("manifest object skipped", {{"file", file}, {"error", e.message()}});
    }
    log_.info("manifest file loaded", {{"file", file},
                                       {"objects", std::to_string(contents.objects.size())},
                                       {"skipped", std::to_string(contents.errors.size())}});
    state.last_good = std::move(contents);
    changed = true;
  }
  if (changed) deliver_locked();
  loaded_ = true;
  return changed;
}

void ManifestSource::deliver_locked() {
  if (!sink_) return;
  std::vector<AnyObject> by_kind[kObjectKinds];
  std::vector<ObjectKey> keep[kObjectKinds];
  std::map<std::pair<ObjectKind, ObjectKey>, std::string> origin;
  for (const auto& [file, state] : files_) {
    for (const auto& obj : state.last_good.objects) {
      const ObjectKind kind = kind_of(obj);
      const ObjectKey key = meta_of(obj).key();
      auto [it, fresh] = origin.emplace(std::make_pair(kind, key), file);
      if (!fresh) {
        ObjectError dup{std::string(kind_name(kind)), key.ns, key.name, "metadata.name",
                        "also defined in " + it->second + "; the copy in " + file + " is ignored"};
        sink_->invalid(dup);
        continue;
      }
      by_kind[static_cast<size_t>(kind)].push_back(obj);
    }
    for (const auto& [kind, key] : state.last_good.invalid_keys) {
      keep[static_cast<size_t>(kind)].push_back(key);
    }
  }
  for (size_t k = 0; k < kObjectKinds; ++k) {
    sink_->watch_event(static_cast<ObjectKind>(k), "RELOAD");
    sink_->replace(static_cast<ObjectKind>(k), "", std::move(by_kind[k]), keep[k]);
  }
}

}  // namespace lockstep::rollout
