#pragma once

// The demo's timeline: one row per second (request rate per backend version, canary weight,
// the scaler's metric, desired and running replicas), written as a TSV and drawn with gnuplot
// (Debian gnuplot-nox, pngcairo terminal) into a PNG.

#include <string>
#include <vector>

namespace lockstep::demo {

struct TimelineRow {
  double t = 0;  // seconds since the start
  double rps_v1 = 0, rps_v2 = 0, errors = 0;
  double weight = 0;  // canary traffic weight, percent
  double metric = 0;
  int desired = 0;  // spec.replicas (KEDA/HPA)
  int running_v1 = 0, running_v2 = 0;  // ready pods per version
  double held = 0;  // requests the proxy holds
};

struct TimelineMark {
  double t = 0;
  std::string label;
};

// Writes `tsv` and renders `png` with gnuplot. False with the reason (gnuplot missing, ...).
bool write_timeline(const std::vector<TimelineRow>& rows, const std::vector<TimelineMark>& marks,
                    const std::string& title, const std::string& tsv, const std::string& png,
                    std::string* error);

}  // namespace lockstep::demo
