// Live migration of running sequences (Llumnix) through the cluster facade: a controller
// registered only in this test binary migrates the one running sequence from instance 0 to 1 after
// a given number of steps. One simulation per TEST_CASE (one SimGrid engine per process).
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <map>
#include <string>

#include "policies/controller/migration_options.hpp"
#include "sim/core/registry.hpp"
#include "sim/engine/serving_engine.hpp"
#include "sim/metrics/recorder.hpp"
#include "sim/scenario/run_description.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/serving/controller.hpp"
#include "support.hpp"

using namespace hetsim;

namespace {

class MigrateOnce final : public policies::Controller {
 public:
  explicit MigrateOnce(const config::Node& cfg)
      : after_(cfg.get<int>("after_steps").default_to(10).value()), options_(policies::parse_migration_options(cfg)) {}
  bool migrates() const override { return true; }
  void attach(serving::ClusterFacade& cluster) override { cluster_ = &cluster; }
  void on_step_end(std::size_t instance) override {
    if (instance != 0 || ++steps_ != after_) return;
    for (policies::Sequence* s : cluster_->running(0))
      if (s->decoding()) {
        REQUIRE(cluster_->migrate(*s, 0, 1, options_));
        CHECK_FALSE(cluster_->migrate(*s, 0, 1, options_));  // one at a time
        return;
      }
  }

 private:
  int after_;
  int steps_ = 0;
  serving::ClusterFacade::MigrationOptions options_;
  serving::ClusterFacade* cluster_ = nullptr;
};
HETSIM_REGISTER(policies::Controller, MigrateOnce, "test-migrate-once", "test: migrate instance 0's decoding sequence once");

struct Outcome {
  std::vector<sim::MigrationRecord> log;
  std::map<std::string, std::string> request;
  std::vector<std::map<std::string, std::string>> steps;
};

/// One 4,000-token prompt with 300 output tokens on two H100s of one HGX node (NVLink between them).
Outcome run(const std::string& mode, const std::string& extra = "") {
  test::TempDir dir("migration");
  const std::string yaml = fmt::format(R"(
model: llama-3-8b
cluster: {{device: h100-sxm5-80gb, node: hgx-h100, replicas: 2}}
policies:
  router: {{impl: round_robin}}
  controllers: [{{impl: test-migrate-once, after_steps: 20, mode: {}{}}}]
output: {{steps: full}}
workload:
  source: synthetic
  num_requests: 1
  arrival: {{rate: 1}}
  prompt_tokens: 4000
  output_tokens: 300
)",
                                       mode, extra);
  auto doc = config::Document::load_string(yaml, "migration.yaml");
  sim::Scenario sc = sim::load_scenario(doc);
  sim::Recorder recorder(sim::describe_run(sc), dir.file("out"));
  sim::run_serving(sc, recorder);
  recorder.commit();
  Outcome o{recorder.migration_log(), {}, {}};
  const auto requests = test::read_csv(dir.file("out/requests.csv"));
  REQUIRE(requests.size() == 1);
  o.request = requests[0];
  o.steps = test::read_csv(dir.file("out/steps.csv"));
  return o;
}

constexpr double kBytesPerToken = 131072;  // Llama-3-8B, bf16 KV, TP1
/// GPU to GPU of one HGX H100 node, idle: NVLink 450 GB/s, two 2 us hops.
double nvlink(double bytes) { return bytes > 0 ? bytes / 450e9 + 4e-6 : 0.0; }

/// `recomputed`: the target's re-prefill produces one of the tokens a decode step would have.
void check_conserved(const Outcome& o, bool recomputed = false) {
  CHECK(o.request.at("status") == "completed");
  CHECK(o.request.at("output_tokens") == "300");
  CHECK(o.request.at("migrations") == "1");
  // Decode steps: 299 after the prefill's first token, wherever they ran (one fewer after a
  // recompute); the ones after the migration on instance 1.
  std::int64_t decodes = 0, on_target = 0;
  for (const auto& s : o.steps) {
    decodes += std::stoll(s.at("decode_seqs"));
    if (s.at("replica") == "1") on_target += std::stoll(s.at("decode_seqs"));
  }
  CHECK(decodes == (recomputed ? 298 : 299));
  CHECK(on_target > 0);
}

}  // namespace

TEST_CASE("migration: live - the stop-and-copy moves only what was decoded during the stages, its downtime is its "
          "bytes over the route and every token is produced once",
          "[engine][migration]") {
  const Outcome o = run("live");
  REQUIRE(o.log.size() == 1);
  const sim::MigrationRecord& m = o.log[0];
  CHECK_FALSE(m.aborted);
  CHECK(m.stages >= 2);
  // The first stage moved the 4,000+ tokens computed by then; the last only a few blocks' worth.
  CHECK(m.bytes - m.last_stage_bytes >= 4000 * kBytesPerToken);
  CHECK(m.last_stage_bytes <= 16 * 16 * kBytesPerToken);
  CHECK(m.downtime == Approx(nvlink(m.last_stage_bytes)).epsilon(1e-9).margin(1e-12));
  check_conserved(o);
}

TEST_CASE("migration: blocking copies everything in the stop so its downtime is all the bytes over the route",
          "[engine][migration]") {
  const Outcome o = run("blocking");
  REQUIRE(o.log.size() == 1);
  const sim::MigrationRecord& m = o.log[0];
  CHECK(m.stages == 1);
  CHECK(m.last_stage_bytes == m.bytes);
  CHECK(m.bytes >= 4000 * kBytesPerToken);
  CHECK(m.downtime == Approx(nvlink(m.bytes)).epsilon(1e-9));
  CHECK(m.downtime > 1e-3);  // 524+ MB at 450 GB/s
  check_conserved(o);
}

TEST_CASE("migration: recompute drops the KV and the target prefills the whole context again", "[engine][migration]") {
  const Outcome o = run("recompute");
  REQUIRE(o.log.size() == 1);
  CHECK(o.log[0].bytes == 0);
  check_conserved(o, true);
  // The target's first step recomputes the prompt and the tokens generated so far.
  std::int64_t recomputed = 0;
  for (const auto& s : o.steps)
    if (s.at("replica") == "1") recomputed += std::stoll(s.at("prefill_tokens"));
  CHECK(recomputed > 4000);
}
