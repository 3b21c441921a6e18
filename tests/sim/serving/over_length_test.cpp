#include <catch2/catch.hpp>

#include <cmath>

#include "sim/core/error.hpp"
#include "sim/serving/over_length.hpp"

using namespace hetsim;
using Catch::Contains;

TEST_CASE("serving::clip_lengths: fits exactly, keeps one token each, shortens both in proportion", "[serving][over_length]") {
  for (std::int64_t limit = 2; limit <= 40; ++limit)
    for (std::int64_t p = 1; p <= 60; ++p)
      for (std::int64_t o = 1; o <= 60; ++o) {
        if (p + o <= limit) continue;
        std::int64_t cp = p, co = o;
        serving::clip_lengths(cp, co, limit);
        INFO(p << " + " << o << " clipped to " << limit << ": " << cp << " + " << co);
        REQUIRE(cp + co == limit);
        REQUIRE((cp >= 1 && co >= 1));
        REQUIRE((cp <= p && co <= o));
        // The prompt's share moves by less than one token's worth (or the one-token floor).
        const double share = static_cast<double>(p) / static_cast<double>(p + o);
        REQUIRE((std::abs(static_cast<double>(cp) - share * static_cast<double>(limit)) < 1.0 || cp == 1));
      }
  std::int64_t p = 6000, o = 2000;
  serving::clip_lengths(p, o, 4096);
  CHECK((p == 3072 && o == 1024));
  std::int64_t huge_p = std::int64_t{1} << 40, huge_o = 1;  // no overflow in prompt x limit
  serving::clip_lengths(huge_p, huge_o, std::int64_t{1} << 30);
  CHECK((huge_p == (std::int64_t{1} << 30) - 1 && huge_o == 1));
  std::int64_t fits_p = 3, fits_o = 3;
  CHECK_THROWS_AS(serving::clip_lengths(fits_p, fits_o, 6), InvariantError);
}

TEST_CASE("serving::OverLength: reject passes requests on, drop and clip act on over-length ones only", "[serving][over_length]") {
  Request r;
  r.prompt_tokens = 100;
  r.output_tokens = 50;
  const serving::OverLength reject(serving::OverLength::Policy::reject, 120), drop(serving::OverLength::Policy::drop, 120),
      clip(serving::OverLength::Policy::clip, 120);
  Request a = r;
  auto out = reject.apply(a);
  CHECK((!out.dropped && !out.clipped && a.prompt_tokens == 100));
  out = drop.apply(a);
  CHECK(out.dropped);
  CHECK_THAT(out.reason, Contains("exceeds_max_model_len: prompt + output = 150 tokens > max_model_len 120"));
  out = clip.apply(a);
  CHECK((out.clipped && a.prompt_tokens == 80 && a.output_tokens == 40));
  CHECK((out.original_prompt_tokens == 100 && out.original_output_tokens == 50));
  Request fits = r;
  fits.output_tokens = 20;
  CHECK_FALSE(clip.apply(fits).clipped);
  CHECK_FALSE(drop.apply(fits).dropped);
  CHECK(fits.prompt_tokens == 100);
}

TEST_CASE("serving::OverLength: config errors name the key, value and expectation", "[serving][over_length][errors]") {
  auto parse = [](const std::string& yaml, std::int64_t len) {
    auto doc = config::Document::load_string(yaml, "s.yaml");
    return serving::OverLength::parse(doc.root(), len);
  };
  CHECK(std::string(parse("{}", 10).name()) == "reject");
  CHECK(std::string(parse("over_length: clip", 10).name()) == "clip");
  CHECK_THROWS_WITH(parse("over_length: trim", 10),
                    Contains("s.yaml:1: over_length = trim: expected one of \"reject\", \"drop\", \"clip\""));
  CHECK_THROWS_WITH(parse("over_length: clip", 1), Contains("over_length = clip") && Contains("max_model_len >= 2"));
}
