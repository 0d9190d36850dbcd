#pragma once
// What a training run leaves behind: metrics.csv (one row per logged step) and a loss-curve SVG.
#include <cstdio>
#include <string>
#include <vector>

namespace char_lm {

/// One logged step. A loss that was not measured at this step is NaN and written as an empty cell.
struct MetricsRow {
  long step = 0;
  double train_loss = 0;   ///< training loss of this step's batch
  double val_loss = 0;     ///< validation loss, NaN between evaluations
  double lr = 0;           ///< learning rate used for this step
  double tokens_per_s = 0; ///< throughput since the previous row
  double elapsed_s = 0;    ///< wall time since training started
};

/// Appends rows to a CSV file with a header `step,train_loss,val_loss,lr,tokens_per_s,elapsed_s`.
class MetricsCsv {
 public:
  /// Opens `path`; `append` keeps existing rows (a resumed run) and writes the header only into an empty file.
  /// Throws xgrad::IOError naming the path.
  MetricsCsv(const std::string& path, bool append);
  ~MetricsCsv();
  MetricsCsv(const MetricsCsv&) = delete;
  MetricsCsv& operator=(const MetricsCsv&) = delete;
  /// Writes and flushes one row (a crash loses at most the current step).
  void write(const MetricsRow& row);

 private:
  std::FILE* f_;
};

/// Reads a metrics.csv back (to redraw the curve of a resumed run); throws xgrad::IOError naming the file, line
/// and field when it cannot be opened or a field is not a number.
std::vector<MetricsRow> read_metrics_csv(const std::string& path);

/// A horizontal reference line on the plot, e.g. the unigram entropy.
struct ReferenceLine {
  double y;           ///< loss value
  std::string label;  ///< shown at the line's right end
};

/// The SVG text of train and validation loss against step, with axes, ticks, labels and a legend.
std::string loss_curve_svg(const std::vector<MetricsRow>& rows, const std::string& title,
                           const std::vector<ReferenceLine>& references = {});
/// Writes `contents` to `path` through `path`.tmp and a rename, so a reader never sees half a file.
/// Throws xgrad::IOError naming the path.
void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace char_lm
