// char_lm metrics: the CSV log and the loss-curve SVG.
#ifdef XGRAD_CHAR_LM_TESTS  // defined where examples/CMakeLists.txt links char_lm_support
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "char_lm/metrics.hpp"
#include "xgrad/errors.hpp"

using namespace char_lm;
using Catch::Matchers::Contains;

namespace {
std::string temp_path(const std::string& name) { return "/tmp/xgrad_test_lm_" + std::to_string(::getpid()) + "_" + name; }
std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("MetricsCsv: header once, NaN as an empty cell, append keeps rows, and it reads back", "[lm]") {
  const std::string path = temp_path("metrics.csv");
  {
    MetricsCsv csv(path, false);
    csv.write({1, 4.25, NAN, 3e-4, 1000.5, 0.5});
    csv.write({2, 4.0, 3.9, 3e-4, 2000, 1.0});
  }
  {
    MetricsCsv csv(path, true);  // a resumed run
    csv.write({3, 3.5, NAN, 1.5e-4, 2000, 1.5});
  }
  CHECK(slurp(path) ==
        "step,train_loss,val_loss,lr,tokens_per_s,elapsed_s\n"
        "1,4.250000,,0.0003,1000.5,0.500\n"
        "2,4.000000,3.900000,0.0003,2000.0,1.000\n"
        "3,3.500000,,0.00015,2000.0,1.500\n");
  const auto rows = read_metrics_csv(path);
  REQUIRE(rows.size() == 3);
  CHECK(rows[1].step == 2);
  CHECK(rows[1].val_loss == 3.9);
  CHECK(std::isnan(rows[2].val_loss));
  CHECK(rows[2].lr == 1.5e-4);
  std::remove(path.c_str());
  CHECK_THROWS_AS(MetricsCsv("/nonexistent_dir/metrics.csv", false), xgrad::IOError);
  CHECK_THROWS_WITH(read_metrics_csv("/nonexistent_dir/m.csv"), Contains("/nonexistent_dir/m.csv"));
}

TEST_CASE("read_metrics_csv: a corrupt cell names the file, line and field", "[lm]") {
  const std::string path = temp_path("corrupt.csv");
  std::ofstream(path) << "step,train_loss,val_loss,lr,tokens_per_s,elapsed_s\n"
                      << "1,2.5,,0.001,100.0,0.5\n"
                      << "2,2.4x,,0.001,100.0,1.0\n";
  CHECK_THROWS_WITH(read_metrics_csv(path), Contains(path) && Contains("line 3") && Contains("'train_loss' is '2.4x'"));
  std::ofstream(path) << "step,train_loss,val_loss,lr,tokens_per_s,elapsed_s\n"
                      << "99999999999999999999,2.5,,0.001,100.0,0.5\n";
  CHECK_THROWS_WITH(read_metrics_csv(path), Contains("line 2") && Contains("'step'"));
  std::ofstream(path) << "step,train_loss,val_loss,lr,tokens_per_s,elapsed_s\n"
                      << "3,2.5,,0.001,100.0,0.5\n";
  const auto rows = read_metrics_csv(path);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].step == 3);
  CHECK(rows[0].train_loss == 2.5);
  CHECK(std::isnan(rows[0].val_loss));
  std::remove(path.c_str());
}

TEST_CASE("loss_curve_svg: both curves, axes labels, legend, reference line, escaped title", "[lm]") {
  std::vector<MetricsRow> rows;
  for (long s = 1; s <= 100; ++s) rows.push_back({s, 4.0 - 0.02 * double(s), s % 50 == 0 ? 3.0 : NAN, 3e-4, 1, 1});
  const std::string svg = loss_curve_svg(rows, "Tiny LM <jargon>", {{3.26, "unigram 3.26"}});
  CHECK_THAT(svg, Contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  CHECK_THAT(svg, Contains("Tiny LM &lt;jargon&gt;"));
  CHECK_THAT(svg, Contains(">step</text>") && Contains(">loss (nats/char)</text>"));
  CHECK_THAT(svg, Contains(">train (EMA)</text>") && Contains(">validation</text>") && Contains(">unigram 3.26</text>"));
  // Three polylines: raw train (faint), its moving average, validation with exactly the two
  // measured points (steps 50 and 100).
  std::vector<std::string> lines;
  for (auto at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1))
    lines.push_back(svg.substr(at, svg.find('\n', at) - at));
  REQUIRE(lines.size() == 3);
  CHECK_THAT(lines[0], Contains("stroke-opacity=\"0.3\""));
  CHECK(std::count(lines[2].begin(), lines[2].end(), ',') == 2);
  // Bias correction: the average starts at the first loss itself, not pulled towards zero.
  auto first_point = [](const std::string& l) { return l.substr(l.find("points=\"") + 8, l.find(' ', l.find("points=\"")) - l.find("points=\"") - 8); };
  CHECK(first_point(lines[1]) == first_point(lines[0]));
  CHECK(svg.substr(svg.size() - 7) == "</svg>\n");
}

TEST_CASE("write_file_atomic: replaces the file and leaves no temporary", "[lm]") {
  const std::string path = temp_path("loss.svg");
  write_file_atomic(path, "old");
  write_file_atomic(path, "new");
  CHECK(slurp(path) == "new");
  CHECK(!std::ifstream(path + ".tmp"));
  std::remove(path.c_str());
  CHECK_THROWS_AS(write_file_atomic("/nonexistent_dir/x.svg", "x"), xgrad::IOError);
}
#endif
