#pragma once
// points.csv: one row per sweep point with its parameters and the summary metrics of its run,
// read back from the point folders (so a sharded sweep merges by reading what every shard wrote).
#include <string>
#include <vector>

#include "sweep/point_runner.hpp"
#include "sweep/spec.hpp"

namespace hetsim::sweep {

/// Column names after the parameters, in order: the run metrics declaring a sweep column.
const std::vector<std::string>& metric_columns();
/// Metric cells of the finished run in `folder` (empty cells where a metric does not apply).
std::vector<std::string> metric_cells(const std::string& folder);

/// One row of points.csv as written.
struct PointRow {
  const Point* point = nullptr;
  std::string status;               ///< ok | failed | infeasible
  std::vector<std::string> cells;   ///< per metric_columns(); empty unless ok
};

struct PointsCount {
  std::size_t ok = 0;
  std::vector<PointRow> rows;       ///< every point written, in order
  std::vector<std::string> failed;   ///< names of the points whose run failed
  std::vector<std::string> infeasible;  ///< training plans that do not fit (recorded, not run)
  std::vector<std::string> missing;  ///< names of the points not run yet
};

/// Writes out/points.csv. Points not run yet are an InputError when `require_all` (merging shards),
/// listing them; points that failed are kept with status "failed".
PointsCount write_points_csv(const Spec& spec, const PointRunner& runner, const std::string& out_dir, bool require_all);

}  // namespace hetsim::sweep
