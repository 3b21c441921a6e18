#include "sim/core/parallel_plan.hpp"

#include <fmt/format.h>

namespace hetsim {

std::string ParallelPlan::describe() const {
  std::string out;
  auto add = [&](const char* name, int degree) {
    if (degree > 1) out += fmt::format("{}{}{}", out.empty() ? "" : " ", name, degree);
  };
  add("TP", tp);
  if (sp) out += " SP";
  add("PP", pp);
  add("VP", virtual_stages);
  add("DP", dp);
  add("CP", cp);
  add("EP", ep);
  if (ep > 1) add("ETP", expert_tp());
  if (zero > 0) out += fmt::format("{}ZeRO-{}", out.empty() ? "" : " ", zero);
  return out.empty() ? "TP1" : out;
}

}  // namespace hetsim
