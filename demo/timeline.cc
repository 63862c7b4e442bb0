#include "demo/timeline.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace lockstep::demo {

namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

bool write_timeline(const std::vector<TimelineRow>& rows, const std::vector<TimelineMark>& marks,
                    const std::string& title, const std::string& tsv, const std::string& png,
                    std::string* error) {
  {
    std::ofstream out(tsv);
    out << "# t\tv1_rps\tv2_rps\terrors\tcanary_weight\tmetric\tdesired\trunning_v1\trunning_v2\theld\n";
    for (const auto& r : rows) {
      out << r.t << '\t' << r.rps_v1 << '\t' << r.rps_v2 << '\t' << r.errors << '\t' << r.weight << '\t'
          << r.metric << '\t' << r.desired << '\t' << r.running_v1 << '\t' << r.running_v2 << '\t'
          << r.held << '\n';
    }
    if (!out) {
      *error = tsv + ": cannot write";
      return false;
    }
  }
  if (rows.empty()) {
    *error = "no timeline rows";
    return false;
  }
  const double t_end = rows.back().t;
  const std::string script_file = tsv + ".gnuplot";
  {
    std::ofstream gp(script_file);
    gp << "set terminal pngcairo size 1400,900 font 'DejaVu Sans,11' background '#ffffff'\n"
       << "set output " << quote(png) << "\n"
       << "set datafile separator '\\t'\n"
       << "set multiplot layout 2,1 title " << quote(title) << " font ',14'\n"
       << "set grid ytics lc rgb '#dddddd'\n"
       << "set xrange [0:" << t_end << "]\n"
       << "set key top left horizontal opaque box lc rgb '#cccccc'\n"
       << "set lmargin 10\nset rmargin 10\n";
    for (const auto& m : marks) {
      gp << "set arrow from " << m.t << ", graph 0 to " << m.t
         << ", graph 1 nohead lc rgb '#999999' dt 3\n"
         << "set label " << quote(m.label) << " at " << m.t + 0.4
         << ", graph 0.97 rotate by 90 right font ',8' tc rgb '#555555'\n";
    }
    gp << "set ylabel 'requests / s (answered)'\n"
       << "set y2label 'canary weight (%)'\n"
       << "set y2range [0:105]\nset y2tics 0,20,100\nset ytics nomirror\n"
       << "set yrange [0:*]\n"
       << "plot " << quote(tsv) << " using 1:2 with filledcurves x1 lc rgb '#4e79a7' fs transparent solid 0.55 "
       << "title 'v1', "
       << "'' using 1:2:($2+$3) with filledcurves lc rgb '#f28e2b' fs transparent solid 0.65 title 'v2', "
       << "'' using 1:5 axes x1y2 with steps lw 2.5 lc rgb '#e15759' title 'canary weight (%)', "
       << "'' using 1:4 with impulses lw 2 lc rgb '#000000' title 'errors / s'\n";
    gp << "unset y2label\nunset y2tics\nset ytics mirror\n"
       << "set xlabel 'seconds'\n"
       << "set ylabel 'replicas'\n"
       << "set yrange [0:*]\n"
       << "plot " << quote(tsv) << " using 1:7 with steps lw 2.5 lc rgb '#59a14f' title 'desired (KEDA / HPA)', "
       << "'' using 1:($8+$9) with steps lw 2 dt 2 lc rgb '#000000' title 'running (ready)', "
       << "'' using 1:8 with steps lw 1.5 lc rgb '#4e79a7' title 'running v1', "
       << "'' using 1:9 with steps lw 1.5 lc rgb '#f28e2b' title 'running v2'\n"
       << "unset multiplot\n";
  }
  const std::string cmd = "gnuplot " + quote(script_file) + " 2>" + quote(tsv + ".gnuplot.log");
  const int status = std::system(cmd.c_str());
  if (status != 0) {
    *error = "gnuplot failed (exit " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
             "); see " + tsv + ".gnuplot.log";
    return false;
  }
  return true;
}

}  // namespace lockstep::demo
