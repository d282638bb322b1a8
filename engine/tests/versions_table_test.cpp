// Talos version profiles: parsing, the accepted range, and the boundaries of the rule table
// (each checked on both sides, as read from Talos' tags).
#include <gtest/gtest.h>

#include <set>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/versions.h"

using namespace cryptnode;
using namespace cryptnode::versions;

namespace {
Version v(const char* s) {
  return Version::parse(s);
}
std::string parse_error(const char* s) {
  try {
    Version::parse(s);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    return e.what();
  }
  ADD_FAILURE() << s;
  return "";
}
}  // namespace

TEST(Version, ParsesPatchesAndBareMinors) {
  EXPECT_EQ(v("1.12.0"), (Version{1, 12, 0}));
  EXPECT_EQ(v("v1.12.7"), (Version{1, 12, 7}));
  EXPECT_EQ(v("1.12.11"), (Version{1, 12, 11}));
  EXPECT_EQ(v("1.12"), (Version{1, 12, 11}));  // release-1.12 head, v1.12.11
  EXPECT_EQ(v("1.13"), (Version{1, 13, 9}));
  EXPECT_EQ(v("1.11"), (Version{1, 11, 6}));
  EXPECT_EQ(v("1.8.0"), (Version{1, 8, 0}));
  EXPECT_EQ(v("1.14"), (Version{1, 14, 0}));
  EXPECT_EQ(v("1.12.7").str(), "1.12.7");
  EXPECT_EQ(default_version(), (Version{1, 12, 11}));
}

TEST(Version, PreReleasesOfTheCatalogue) {
  EXPECT_EQ(v("1.11.0-beta.1"), (Version{1, 11, 0, 1}));
  EXPECT_EQ(v("v1.11.0-beta.0").str(), "1.11.0-beta.0");
  // Between the last 1.10 patch and the 1.11.0 release, in beta order.
  EXPECT_LT(v("1.10.9"), v("1.11.0-beta.0"));
  EXPECT_LT(v("1.11.0-beta.0"), v("1.11.0-beta.1"));
  EXPECT_LT(v("1.11.0-beta.1"), v("1.11.0-beta.2"));
  EXPECT_LT(v("1.11.0-beta.2"), v("1.11.0"));
  EXPECT_NE(v("1.11.0-beta.2"), v("1.11.0"));
  EXPECT_EQ(pre_releases().size(), 3u);
  for (const Version& p : pre_releases()) EXPECT_EQ(v(p.str().c_str()), p);
  for (const char* bad :
       {"1.11.0-beta.3", "1.11.0-rc.0", "1.12.0-beta.1", "1.11.0-beta", "1.11-beta.1"})
    EXPECT_NE(parse_error(bad).find("unknown Talos version"), std::string::npos) << bad;
  EXPECT_NE(parse_error("1.11.0-beta.3").find("1.11.0-beta.1"), std::string::npos);
}

TEST(Version, UnknownVersionsNameThemselvesAndTheRange) {
  const std::string e = parse_error("1.12.12");
  EXPECT_NE(e.find("unknown Talos version \"1.12.12\""), std::string::npos) << e;
  EXPECT_NE(e.find("1.12.0-1.12.11"), std::string::npos) << e;
  EXPECT_NE(e.find("1.8.0-1.8.4"), std::string::npos) << e;
  for (const char* bad : {"1.7.0", "1.15", "2.0.0", "1.12.x", "", "1", "1.12.7.1", "1.012.1",
                          "1.13.10", "1.14.1", "latest", "1.12.-1"})
    EXPECT_NE(parse_error(bad).find("unknown Talos version"), std::string::npos) << bad;
}

TEST(Version, KnownVersionsAreOrderedAndComplete) {
  const auto& all = known_versions();
  EXPECT_EQ(all.front(), (Version{1, 8, 0}));
  EXPECT_EQ(all.back(), (Version{1, 14, 0}));
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1], all[i]);
  EXPECT_EQ(all.size(), 5u + 7 + 10 + 7 + 12 + 10 + 1);
}

struct Boundary {
  Rule rule;
  const char* last_without;
  const char* first_with;
};

TEST(RuleTable, BoundariesAsTalosTagsShowThem) {
  const Boundary cases[] = {
      {Rule::kFailedSyncsNonFatal, "1.8.4", "1.9.0"},
      {Rule::kMetaStateEncryptionModernJson, "1.10.9", "1.11.0"},
      {Rule::kMetaStateEncryptionModernJson, "1.11.0-beta.0", "1.11.0-beta.1"},
      {Rule::kMetaLegacyJsonFallback, "1.11.0-beta.1", "1.11.0-beta.2"},
      {Rule::kOpenTriesEveryKeyslot, "1.8.4", "1.9.0"},
      {Rule::kOpenHandlesOpenVolume, "1.8.0", "1.8.1"},
      {Rule::kCloseByMapperName, "1.10.3", "1.10.4"},
      {Rule::kResetNotReadyVolume, "1.9.5", "1.9.6"},
      {Rule::kMapperNameVolumeID, "1.11.6", "1.12.0"},
      {Rule::kResetDropsPartition, "1.11.6", "1.12.0"},
      {Rule::kYamlV4Decoder, "1.11.6", "1.12.0"},
      {Rule::kUserVolumeType, "1.11.6", "1.12.0"},
      {Rule::kLuks2HeaderValidation, "1.12.6", "1.12.7"},
      {Rule::kLuks2HeaderRejectsArgon2i, "1.12.6", "1.12.7"},
      {Rule::kKeyHandlerTimeout20s, "1.12.6", "1.12.7"},
      {Rule::kStartTheWorldWaitsForVolumeConfigs, "1.12.10", "1.12.11"},
      {Rule::kStartTheWorldWaitsForVolumeConfigs, "1.13.7", "1.13.8"},
      {Rule::kMaintenanceApplyByMachined, "1.12.11", "1.13.0"},
      {Rule::kVolumeConfigSevenNames, "1.13.9", "1.14.0"},
      {Rule::kEncryptionAllowDiscards, "1.13.9", "1.14.0"},
      {Rule::kResetResidesOnVolumeCheck, "1.13.9", "1.14.0"},
      {Rule::kApplyModeRebootRemoved, "1.13.9", "1.14.0"},
      {Rule::kApplyModeAutoIsNoReboot, "1.13.9", "1.14.0"},
  };
  for (const Boundary& b : cases) {
    EXPECT_FALSE(applies(b.rule, v(b.last_without))) << rule_id(b.rule) << " " << b.last_without;
    EXPECT_TRUE(applies(b.rule, v(b.first_with))) << rule_id(b.rule) << " " << b.first_with;
  }
}

TEST(RuleTable, Argon2iRejectedOnlyInsideTheTwoWindows) {
  for (const char* with : {"1.12.7", "1.12.8", "1.13.0", "1.13.4"})
    EXPECT_TRUE(applies(Rule::kLuks2HeaderRejectsArgon2i, v(with))) << with;
  for (const char* without : {"1.12.6", "1.12.9", "1.12.11", "1.13.5", "1.13.9", "1.14.0"})
    EXPECT_FALSE(applies(Rule::kLuks2HeaderRejectsArgon2i, v(without))) << without;
  // the validation itself stays
  EXPECT_TRUE(applies(Rule::kLuks2HeaderValidation, v("1.12.9")));
  EXPECT_TRUE(applies(Rule::kLuks2HeaderValidation, v("1.13.0")));
}

TEST(RuleTable, WindowsOfTheOlderReleases) {
  // 1.8.0 still ran luksOpen inside tryHandlers; 1.8.1 (#9415's fix) moved it out until 1.9.0.
  EXPECT_TRUE(applies(Rule::kOpenTriesEveryKeyslot, v("1.8.0")));
  EXPECT_FALSE(applies(Rule::kOpenTriesEveryKeyslot, v("1.8.1")));
  // The close named dm-N from 1.9.0 (EvalSymlinks) until 037801f5f (1.10.4, 1.11.0-alpha.2).
  for (const char* with : {"1.8.4", "1.10.4", "1.10.9", "1.11.0-beta.0", "1.12.0"})
    EXPECT_TRUE(applies(Rule::kCloseByMapperName, v(with))) << with;
  for (const char* without : {"1.9.0", "1.9.6", "1.10.3"})
    EXPECT_FALSE(applies(Rule::kCloseByMapperName, v(without))) << without;
  // Reset of a volume that is not ready: 1.9.6 on release-1.9, every 1.10.
  EXPECT_TRUE(applies(Rule::kResetNotReadyVolume, v("1.10.0")));
  EXPECT_FALSE(applies(Rule::kResetNotReadyVolume, v("1.8.4")));
  // The strict META reader lived only in v1.11.0-beta.1.
  for (const char* p : {"1.11.0-beta.1"})
    EXPECT_TRUE(applies(Rule::kMetaStateEncryptionModernJson, v(p)) &&
                !applies(Rule::kMetaLegacyJsonFallback, v(p)));
  for (const char* p : {"1.10.9", "1.11.0-beta.0", "1.11.0-beta.2", "1.11.0", "1.14.0"})
    EXPECT_FALSE(applies(Rule::kMetaStateEncryptionModernJson, v(p)) &&
                 !applies(Rule::kMetaLegacyJsonFallback, v(p)))
        << p;
}

TEST(RuleTable, StartTheWorldFixMissingFromEarly113) {
  EXPECT_TRUE(applies(Rule::kStartTheWorldWaitsForVolumeConfigs, v("1.12.11")));
  EXPECT_FALSE(applies(Rule::kStartTheWorldWaitsForVolumeConfigs, v("1.13.0")));
  EXPECT_TRUE(applies(Rule::kStartTheWorldWaitsForVolumeConfigs, v("1.14.0")));
}

TEST(RuleTable, EveryRuleHasRowsWithSourcesAndStableIds) {
  std::set<std::string_view> ids;
  for (const RuleRow& r : table()) {
    EXPECT_FALSE(r.source.empty()) << r.id;
    EXPECT_FALSE(r.description.empty()) << r.id;
    EXPECT_EQ(rule_id(r.rule), r.id);
    EXPECT_EQ(rule_from_id(r.id), r.rule);
    if (r.until) {
      EXPECT_LT(r.since, *r.until) << r.id;
    }
    ids.insert(r.id);
  }
  EXPECT_EQ(ids.size(), 21u);
  EXPECT_EQ(rule_from_id("nope"), std::nullopt);
}

TEST(RuleTable, Listings) {
  const std::string text = table_text();
  EXPECT_NE(text.find("luks2_header_rejects_argon2i  since 1.12.7  until 1.12.9  go.mod"),
            std::string::npos)
      << text;
  const std::string json = table_json();
  EXPECT_NE(json.find("{\"rule\": \"key_handler_timeout_20s\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"since\": \"1.12.7\", \"until\": null"), std::string::npos) << json;
  EXPECT_EQ(json.front(), '[');
}
