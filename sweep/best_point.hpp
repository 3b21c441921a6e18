#pragma once
// The point a sweep's `best:` objective asks for: the highest (or lowest) value of one points.csv
// metric column among the points that ran ok; infeasible and failed points never win.
#include <string>
#include <vector>

#include "sweep/points_table.hpp"
#include "sweep/spec.hpp"

namespace hetsim::sweep {

/// Writes OUT/best.json (the winning point, its parameters and value, and how many points were
/// ok, infeasible or failed) and returns the line to print. Ties go to the earlier point.
std::string write_best(const Objective& objective, const std::vector<PointRow>& rows, const std::string& out_dir);

}  // namespace hetsim::sweep
