#include "metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "xgrad/errors.hpp"

namespace char_lm {

namespace {
std::string cell(double v, const char* spec) { return std::isnan(v) ? std::string() : fmt::format(fmt::runtime(spec), v); }
}  // namespace

MetricsCsv::MetricsCsv(const std::string& path, bool append) : f_(std::fopen(path.c_str(), append ? "a" : "w")) {
  if (!f_) throw xgrad::IOError(fmt::format("MetricsCsv: cannot open '{}': {}", path, std::strerror(errno)));
  std::fseek(f_, 0, SEEK_END);  // ftell right after an "a" open is implementation-defined
  if (std::ftell(f_) == 0) fmt::print(f_, "step,train_loss,val_loss,lr,tokens_per_s,elapsed_s\n");
}

MetricsCsv::~MetricsCsv() { std::fclose(f_); }

void MetricsCsv::write(const MetricsRow& r) {
  fmt::print(f_, "{},{},{},{},{},{}\n", r.step, cell(r.train_loss, "{:.6f}"), cell(r.val_loss, "{:.6f}"), cell(r.lr, "{:.6g}"),
             cell(r.tokens_per_s, "{:.1f}"), cell(r.elapsed_s, "{:.3f}"));
  std::fflush(f_);
}

std::vector<MetricsRow> read_metrics_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw xgrad::IOError(fmt::format("read_metrics_csv: cannot open '{}'", path));
  std::vector<MetricsRow> rows;
  static const char* const fields[6] = {"step", "train_loss", "val_loss", "lr", "tokens_per_s", "elapsed_s"};
  std::string line;
  std::getline(in, line);  // header
  for (int line_no = 2; std::getline(in, line); ++line_no) {
    if (line.empty()) continue;
    std::stringstream ss(line);
    std::string c[6];
    for (auto& s : c) std::getline(ss, s, ',');
    auto bad = [&](int i) {
      return xgrad::IOError(fmt::format("read_metrics_csv: '{}' line {}: field '{}' is '{}', not a number", path,
                                        line_no, fields[i], c[i].substr(0, 40)));
    };
    long step = 0;
    const char* end = c[0].data() + c[0].size();
    if (auto [p, ec] = std::from_chars(c[0].data(), end, step); ec != std::errc{} || p != end || step < 0) throw bad(0);
    double v[6] = {};
    for (int i = 1; i < 6; ++i) {
      if (c[i].empty()) {
        v[i] = NAN;
        continue;
      }
      char* stop = nullptr;
      v[i] = std::strtod(c[i].c_str(), &stop);
      if (stop != c[i].c_str() + c[i].size()) throw bad(i);
    }
    rows.push_back({step, v[1], v[2], v[3], v[4], v[5]});
  }
  return rows;
}

namespace {

// Round tick spacing (1, 2 or 5 times a power of ten) giving about `target` intervals over [lo, hi].
double nice_step(double lo, double hi, int target) {
  const double raw = (hi - lo) / target, p = std::pow(10.0, std::floor(std::log10(raw))), m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

std::string escape(const std::string& s) {
  std::string o;
  for (char ch : s) o += ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : ch == '&' ? "&amp;" : std::string(1, ch);
  return o;
}

}  // namespace

std::string loss_curve_svg(const std::vector<MetricsRow>& rows, const std::string& title,
                           const std::vector<ReferenceLine>& references) {
  constexpr double W = 800, H = 480, L = 70, R = 150, T = 44, B = 56;  // canvas and margins (legend on the right)
  double x0 = 0, x1 = 1, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& r : rows) {
    x1 = std::max(x1, double(r.step));
    for (double v : {r.train_loss, r.val_loss})
      if (std::isfinite(v)) y0 = std::min(y0, v), y1 = std::max(y1, v);
  }
  for (const auto& ref : references) y0 = std::min(y0, ref.y), y1 = std::max(y1, ref.y);
  if (!std::isfinite(y0)) y0 = 0, y1 = 1;
  if (y1 - y0 < 1e-9) y0 -= 0.5, y1 += 0.5;
  const double ys = nice_step(y0, y1, 6), xs = nice_step(x0, x1, 8);
  y0 = std::floor(y0 / ys) * ys, y1 = std::ceil(y1 / ys) * ys, x1 = std::ceil(x1 / xs) * xs;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); };

  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"26\" text-anchor=\"middle\" font-size=\"16\">{3}</text>\n",
      W, H, (L + W - R) / 2, escape(title));
  // Grid, ticks and tick labels.
  for (double y = y0; y <= y1 + ys / 2; y += ys)
    s += fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#e4e4e4\"/>"
                     "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5:g}</text>\n",
                     L, py(y), W - R, L - 6, py(y) + 4, std::round(y / ys) * ys);
  for (double x = x0; x <= x1 + xs / 2; x += xs)
    s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#e4e4e4\"/>"
                     "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4:g}</text>\n",
                     px(x), T, H - B, H - B + 18, x);
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", L, T, W - L - R,
                   H - T - B);
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step</text>\n", (L + W - R) / 2, H - 14);
  s += fmt::format("<text x=\"18\" y=\"{0}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {0})\">"
                   "loss (nats/char)</text>\n", (T + H - B) / 2);
  for (const auto& ref : references)
    s += fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#888\" stroke-dasharray=\"6 4\"/>"
                     "<text x=\"{3}\" y=\"{4:.1f}\" fill=\"#555\">{5}</text>\n",
                     L, py(ref.y), W - R, W - R + 6, py(ref.y) + 4, escape(ref.label));
  // One polyline per curve; validation is sparse, so its points get markers too.
  auto curve = [&](auto get, const char* color, bool markers, double opacity = 1.0) {
    std::string pts, dots;
    for (const auto& r : rows)
      if (double v = get(r); std::isfinite(v)) {
        pts += fmt::format("{:.1f},{:.1f} ", px(double(r.step)), py(v));
        if (markers) dots += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>", px(double(r.step)), py(v), color);
      }
    if (!pts.empty())
      s += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-opacity=\"{}\" stroke-width=\"1.6\" points=\"{}\"/>{}\n",
                       color, opacity, pts, dots);
  };
  // Per-batch training loss is noisy: draw it faint, and over it an exponential moving average
  // (bias-corrected, as Adam's moments are, so the first points are not pulled towards zero).
  std::vector<double> smooth(rows.size(), NAN);
  double ema = 0, weight = 0;
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (std::isfinite(rows[i].train_loss)) {
      ema = 0.95 * ema + 0.05 * rows[i].train_loss, weight = 0.95 * weight + 0.05;
      smooth[i] = ema / weight;
    }
  curve([](const MetricsRow& r) { return r.train_loss; }, "#1f77b4", false, 0.3);
  curve([&](const MetricsRow& r) { return smooth[std::size_t(&r - rows.data())]; }, "#1f77b4", false);
  curve([](const MetricsRow& r) { return r.val_loss; }, "#ff7f0e", true);
  const double lx = W - R + 12, ly = T + 10;
  s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#1f77b4\" stroke-width=\"2\"/>"
                   "<text x=\"{3}\" y=\"{4}\">train (EMA)</text>\n", lx, ly, lx + 24, lx + 30, ly + 4);
  s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#ff7f0e\" stroke-width=\"2\"/>"
                   "<circle cx=\"{5}\" cy=\"{1}\" r=\"3\" fill=\"#ff7f0e\"/><text x=\"{3}\" y=\"{4}\">validation</text>\n",
                   lx, ly + 20, lx + 24, lx + 30, ly + 24, lx + 12);
  return s + "</svg>\n";
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out || !out.write(contents.data(), std::streamsize(contents.size())).flush())
      throw xgrad::IOError(fmt::format("write_file_atomic: cannot write '{}'", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw xgrad::IOError(fmt::format("write_file_atomic: cannot rename '{}' to '{}': {}", tmp, path, std::strerror(errno)));
}

}  // namespace char_lm
