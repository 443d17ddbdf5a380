// Style profiles: how a tenant (or one of its senders) writes, injected into the system prompt.
#pragma once

#include <optional>
#include <string>

namespace iaposte::ai {

struct style_profile {
  std::string tenant;
  std::string sender;    // "" = the tenant's default
  std::string tone;      // free text: "warm", "sober and factual", ...
  std::string formality; // "tu" | "vous" | "" (no preference)
  std::string language;  // BCP 47-ish: "fr", "en", "fr-CA"; "" = the input's language
  std::string signature; // signature conventions: "Cordialement,\nL'équipe X", "first name only"
};

// Synchronous, on a short-lived connection: for the CLI and tests (never on an Asio thread).
// get: the (tenant, sender) profile, else the tenant default (sender ""), else none.
// Throws std::runtime_error (password-free) when PostgreSQL fails.
std::optional<style_profile> get_style(const std::string& database_url, const std::string& tenant,
                                       const std::string& sender);
// Inserts or replaces the (tenant, sender) profile. Throws std::invalid_argument for a
// formality other than "", "tu", "vous", or an empty tenant.
void set_style(const std::string& database_url, const style_profile& p);

} // namespace iaposte::ai
