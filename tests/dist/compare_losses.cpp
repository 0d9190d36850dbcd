// compare_losses A.csv B.csv TOLERANCE: exits 0 when two char_lm metrics.csv files log the same steps with
// train and validation losses within TOLERANCE (absolute), else prints the first difference and exits 1.
#include <cmath>
#include <cstdio>
#include <string>

#include "char_lm/metrics.hpp"

int main(int argc, char** argv) try {
  if (argc != 4) {
    std::fprintf(stderr, "usage: compare_losses A.csv B.csv TOLERANCE\n");
    return 2;
  }
  const auto a = char_lm::read_metrics_csv(argv[1]), b = char_lm::read_metrics_csv(argv[2]);
  const double tolerance = std::stod(argv[3]);
  if (a.size() != b.size() || a.empty()) {
    std::fprintf(stderr, "compare_losses: %zu rows in %s, %zu in %s\n", a.size(), argv[1], b.size(), argv[2]);
    return 1;
  }
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const bool same_val_presence = std::isnan(a[i].val_loss) == std::isnan(b[i].val_loss);
    const double d_train = std::abs(a[i].train_loss - b[i].train_loss);
    const double d_val = std::isnan(a[i].val_loss) ? 0.0 : std::abs(a[i].val_loss - b[i].val_loss);
    worst = std::fmax(worst, std::fmax(d_train, d_val));
    if (a[i].step != b[i].step || !same_val_presence || !(d_train <= tolerance) || !(d_val <= tolerance)) {
      std::fprintf(stderr, "compare_losses: row %zu differs: step %ld train %.6f val %.6f vs step %ld train %.6f val %.6f\n",
                   i, a[i].step, a[i].train_loss, a[i].val_loss, b[i].step, b[i].train_loss, b[i].val_loss);
      return 1;
    }
  }
  std::printf("compare_losses: %zu rows agree, largest difference %.2g (tolerance %g)\n", a.size(), worst, tolerance);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "compare_losses: %s\n", e.what());
  return 1;
}
