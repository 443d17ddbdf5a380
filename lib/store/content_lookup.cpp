// Batched look-ups of stored content and batched suppression writes: one thread, one
// connection, one statement per batch, templates and signatures cached (docs/CONTENT.md).
#include "store/content_lookup.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <pqxx/pqxx>

#include "store/codec.hpp"
#include "store/conninfo.hpp"
#include "store/content_detail.hpp"
#include "store/log_event.hpp"

namespace iaposte::store {
namespace {

using steady = std::chrono::steady_clock;
using nlohmann::json;

constexpr const char* lookup_statement = "iaposte_content_lookup";
constexpr const char* suppress_statement = "iaposte_content_suppress";

// One statement for a whole batch: contacts by id and by email, the suppression entries of
// every recipient, the templates (head and the asked or active version's variants) and the
// signatures the cache could not give. Each input is a JSON array whose `r` numbers the
// answer rows; each output row is (kind, r, payload as JSON text).
constexpr const char* lookup_sql =
    "WITH cr AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(r integer, t text, id bigint,"
    "                                                           e text)),"
    "     rr AS (SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(r integer, t text, a text)),"
    "     tr AS (SELECT * FROM jsonb_to_recordset($3::jsonb) AS x(r integer, t text, n text,"
    "                                                           v integer)),"
    "     sr AS (SELECT * FROM jsonb_to_recordset($4::jsonb) AS x(r integer, t text, s text)),"
    "     cf AS (SELECT cr.r, c.* FROM cr JOIN contacts c ON c.id = cr.id AND c.tenant = cr.t"
    "             WHERE cr.id IS NOT NULL"
    "            UNION ALL"
    "            SELECT cr.r, c.* FROM cr JOIN contacts c"
    "                ON c.tenant = cr.t AND c.email_key = address_key(cr.e)"
    "             WHERE cr.id IS NULL)"
    " SELECT 'c' AS k, cf.r, jsonb_build_object('id', cf.id, 'email', cf.email, 'name', cf.name,"
    "   'company', cf.company, 'locale', cf.locale, 'attributes', cf.attributes,"
    "   'c', " IAPOSTE_SQL_US("cf.created_at") ", 'u', " IAPOSTE_SQL_US(
        "cf.updated_at") ")::text"
                         "   FROM cf"
                         // The entries of the contacts found: they are recipients the caller
                         // could not name before this statement.
                         " UNION ALL"
                         " SELECT 'x', cf.r, jsonb_build_object('address', s.address, 'reason',"
                         "   s.reason, 'list', s.list, 'since', " IAPOSTE_SQL_US(
                             "s.since") ","
                                        "   'src', coalesce(s.source_request_id, ''), 'note', "
                                        "s.note)::text"
                                        "   FROM cf JOIN suppressions s ON s.tenant = cf.tenant"
                                        "    AND s.address = cf.email_key"
                                        " UNION ALL"
                                        " SELECT 's', rr.r, jsonb_build_object('address', "
                                        "s.address, 'reason', "
                                        "s.reason,"
                                        "   'list', s.list, 'since', " IAPOSTE_SQL_US(
                                            "s.since") ","
                                                       "   'src', coalesce(s.source_request_id, "
                                                       "''), 'note', "
                                                       "s.note)::text"
                                                       "   FROM rr JOIN suppressions s ON s.tenant "
                                                       "= rr.t AND "
                                                       "s.address = address_key(rr.a)"
                                                       " UNION ALL"
                                                       " SELECT 't', tr.r, "
                                                       "jsonb_build_object('active', "
                                                       "t.active_version, 'strict', t.strict,"
                                                       "   'raw', t.allow_raw_html, 'version', "
                                                       "coalesce(tr.v, "
                                                       "t.active_version),"
                                                       "   'variants', (SELECT "
                                                       "jsonb_agg(jsonb_build_object('locale', "
                                                       "v.locale,"
                                                       "                  'subject', v.subject, "
                                                       "'text', v.text, "
                                                       "'html', v.html,"
                                                       "                  'markdown', v.markdown) "
                                                       "ORDER BY "
                                                       "v.locale)"
                                                       "                  FROM template_versions v "
                                                       "WHERE v.tenant "
                                                       "= t.tenant AND v.name = t.name"
                                                       "                   AND v.version = "
                                                       "coalesce(tr.v, "
                                                       "t.active_version)))::text"
                                                       "   FROM tr JOIN templates t ON t.tenant = "
                                                       "tr.t AND t.name "
                                                       "= tr.n"
                                                       " UNION ALL"
                                                       " SELECT 'g', sr.r, g.p FROM sr LEFT JOIN "
                                                       "LATERAL ("
                                                       "   SELECT jsonb_build_object('sender', "
                                                       "g.sender, 'html', "
                                                       "g.html, 'text', g.text,"
                                                       "     'u', " IAPOSTE_SQL_US(
                                                           "g.updated_at") ")::text AS p"
                                                                           "     FROM signatures g "
                                                                           "WHERE g.tenant "
                                                                           "= sr.t AND g.sender IN "
                                                                           "(address_key(sr.s), '')"
                                                                           "    ORDER BY g.sender "
                                                                           "DESC LIMIT 1) g "
                                                                           "ON true";

struct lookup_op {
  content_query q;
  std::function<void(content_answer)> done;
};

struct suppress_op {
  suppression s;
  std::function<void(std::string)> done;
};

// When PG stays down, say so again at this pace rather than at every retry.
constexpr auto still_down_log_every = std::chrono::seconds{30};
// Expired heads and signatures are swept when their maps pass this size.
constexpr std::size_t sweep_above = 10000;

std::string key2(const std::string& a, const std::string& b) {
  std::string k = a;
  k.push_back('\0');
  k += b;
  return k;
}

std::string version_key(const std::string& tenant, const std::string& name, int version) {
  return key2(tenant, name) + '\0' + std::to_string(version);
}

// Text PostgreSQL's jsonb accepts: no NUL, valid UTF-8.
std::string clean(const std::string& s) {
  return detail::clean_text(s);
}

template_parts parts_of(const json& j) {
  return {j.value("locale", ""), j.value("subject", ""), j.value("text", ""), j.value("html", ""),
          j.value("markdown", "")};
}

void answer(const std::function<void(content_answer)>& done, content_answer a) {
  if (!done) return;
  try {
    done(std::move(a));
  } catch (const std::exception& e) {
    detail::log_event(spdlog::level::err, "content.callback_failed", {{"error", e.what()}});
  }
}

void answer(const std::function<void(std::string)>& done, std::string error) {
  if (!done) return;
  try {
    done(std::move(error));
  } catch (const std::exception& e) {
    detail::log_event(spdlog::level::err, "content.callback_failed", {{"error", e.what()}});
  }
}

content_answer failed(std::string why) {
  content_answer a;
  a.error = std::move(why);
  return a;
}

const std::string stopped_error = "content look-up stopped";

} // namespace

struct content_lookup::impl {
  content_lookup_config cfg;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<lookup_op> lookups;
  std::deque<suppress_op> writes;
  std::size_t in_flight = 0;
  bool started = false, stopping = false;
  steady::time_point stop_deadline{};
  std::thread worker;

  std::atomic<bool> healthy{false};
  std::atomic<std::uint64_t> statements{0}, batches{0}, hits{0}, misses{0}, sig_hits{0};

  // --- the look-up thread only -------------------------------------------------------------
  std::unique_ptr<pqxx::connection> conn;
  steady::time_point down_since{}, last_down_log{};
  bool seen_down = false;

  struct head {
    int active = 0; // 0: no version yet
    template_flags flags;
    steady::time_point expires{};
  };
  std::unordered_map<std::string, head> heads; // (tenant, name)

  using variants = std::vector<template_parts>;
  std::list<std::string> version_order; // most recently used first
  struct version_slot {
    std::shared_ptr<const variants> v;
    std::list<std::string>::iterator at;
  };
  std::unordered_map<std::string, version_slot> versions; // (tenant, name, version)

  struct signature_slot {
    std::optional<signature> sig;
    steady::time_point expires{};
  };
  std::unordered_map<std::string, signature_slot> signatures; // (tenant, address_key(sender))

  explicit impl(content_lookup_config c) : cfg(std::move(c)) {
    if (cfg.batch_max == 0) cfg.batch_max = 1;
    if (cfg.version_cache_max == 0) cfg.version_cache_max = 1;
  }

  // --- caches --------------------------------------------------------------------------------

  std::shared_ptr<const variants> cached_version(const std::string& key) {
    auto it = versions.find(key);
    if (it == versions.end()) return nullptr;
    version_order.splice(version_order.begin(), version_order, it->second.at);
    return it->second.v;
  }

  void cache_version(const std::string& key, std::shared_ptr<const variants> v) {
    if (auto it = versions.find(key); it != versions.end()) {
      version_order.splice(version_order.begin(), version_order, it->second.at);
      return; // immutable: the one we have is the same
    }
    version_order.push_front(key);
    versions.emplace(key, version_slot{std::move(v), version_order.begin()});
    while (versions.size() > cfg.version_cache_max) {
      versions.erase(version_order.back());
      version_order.pop_back();
    }
  }

  template <typename Map> static void sweep(Map& m, steady::time_point now) {
    if (m.size() <= sweep_above) return;
    for (auto it = m.begin(); it != m.end();)
      it = it->second.expires <= now ? m.erase(it) : std::next(it);
  }

  // --- health --------------------------------------------------------------------------------

  std::string server() const { return detail::describe_server(cfg.url); }

  void connection_failed(const std::string& why) {
    conn.reset();
    const auto now = steady::now();
    if (healthy.exchange(false) || !seen_down) {
      seen_down = true;
      down_since = last_down_log = now;
      detail::log_event(
          spdlog::level::warn, "content.pg_unavailable",
          {{"server", server()}, {"error", why}, {"retry_ms", cfg.retry_interval.count()}});
    } else if (now - last_down_log >= still_down_log_every) {
      last_down_log = now;
      detail::log_event(
          spdlog::level::warn, "content.pg_still_unavailable",
          {{"server", server()},
           {"error", why},
           {"down_s", std::chrono::duration_cast<std::chrono::seconds>(now - down_since).count()}});
    }
  }

  void round_trip_ok() {
    if (!healthy.exchange(true) && seen_down)
      detail::log_event(spdlog::level::info, "content.pg_available",
                        {{"server", server()},
                         {"down_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                         steady::now() - down_since)
                                         .count()}});
  }

  bool ensure_connected() {
    if (conn) return true;
    try {
      conn = detail::open_connection(cfg.url);
      conn->prepare(lookup_statement, lookup_sql);
      conn->prepare(suppress_statement, detail::upsert_suppressions_sql);
      return true;
    } catch (const std::exception& e) {
      connection_failed(detail::describe_error(e, cfg.url));
      return false;
    }
  }

  // Sleeps `d`, cut short by stop(); false once the stop deadline has passed.
  bool pause(steady::duration d) {
    std::unique_lock lk(mu);
    const auto until = steady::now() + d;
    for (;;) {
      const auto now = steady::now();
      if (stopping && now >= stop_deadline) return false;
      if (now >= until) return true;
      cv.wait_until(lk, stopping ? std::min(until, stop_deadline) : until);
    }
  }

  enum class outcome { done, refused, abandoned };

  // Runs `fn` until it succeeds, waiting while PostgreSQL is down. refused: PostgreSQL
  // answered with an error that trying again will not fix (`why` says which); abandoned: the
  // stop deadline passed first.
  template <typename Fn> outcome attempt(Fn&& fn, std::string& why) {
    for (;;) {
      if (!ensure_connected()) {
        if (!pause(cfg.retry_interval)) return outcome::abandoned;
        continue;
      }
      try {
        fn(*conn);
        ++statements;
        round_trip_ok();
        return outcome::done;
      } catch (const std::exception& e) {
        why = detail::describe_error(e, cfg.url);
        switch (detail::classify(e)) {
        case detail::failure_kind::connection:
          connection_failed(why);
          if (!pause(cfg.retry_interval)) return outcome::abandoned;
          continue;
        case detail::failure_kind::transient:
          round_trip_ok();
          detail::log_event(spdlog::level::warn, "content.retry", {{"error", why}});
          if (!pause(cfg.retry_interval)) return outcome::abandoned;
          continue;
        case detail::failure_kind::poison:
          round_trip_ok();
          return outcome::refused;
        }
      }
    }
  }

  // --- suppression writes --------------------------------------------------------------------

  void write(std::vector<suppress_op> ops) {
    std::vector<suppress_op> valid;
    for (auto& op : ops) {
      try {
        detail::check_tenant(op.s.tenant);
        detail::check_email(op.s.address, "address");
        detail::check_list(op.s.list);
        valid.push_back(std::move(op));
      } catch (const std::invalid_argument& e) {
        answer(op.done, std::string("suppression refused: ") + e.what());
      }
    }
    if (!valid.empty()) write_checked(std::move(valid));
  }

  void write_checked(std::vector<suppress_op> ops) {
    json given = json::array();
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const auto& s = ops[i].s;
      given.push_back({{"i", i},
                       {"t", s.tenant},
                       {"a", s.address},
                       {"r", to_string(s.reason)},
                       {"l", clean(s.list)},
                       {"s", clean(s.source_request_id)},
                       {"n", clean(s.note)}});
    }
    std::string why;
    const auto result = attempt(
        [&](pqxx::connection& c) {
          pqxx::work w(c);
          w.exec_prepared(suppress_statement, detail::to_param(given));
          w.commit();
        },
        why);
    if (result == outcome::done) {
      for (auto& op : ops)
        answer(op.done, "");
      return;
    }
    if (result == outcome::refused && ops.size() > 1) { // find the one PostgreSQL refuses
      for (auto& op : ops) {
        std::vector<suppress_op> one;
        one.push_back(std::move(op));
        write_checked(std::move(one));
      }
      return;
    }
    if (result == outcome::refused)
      detail::log_event(spdlog::level::err, "content.suppress_refused",
                        {{"tenant", ops.front().s.tenant}, {"error", why}});
    for (auto& op : ops)
      answer(op.done, result == outcome::abandoned ? stopped_error : "suppression refused: " + why);
  }

  // --- look-ups ------------------------------------------------------------------------------

  // What one look-up takes from the batch's statement, or from the caches.
  struct plan {
    std::size_t contacts_at = 0, recipients_at = 0; // first index in the batch's arrays
    std::string head_key, version_key_;             // template (when asked)
    int template_row = -1; // index in the templates array, -1: from the caches
    std::optional<head> cached_head;
    std::shared_ptr<const variants> cached_variants;
    std::string signature_key;
    int signature_row = -1; // index in the signatures array, -1: from the cache
    std::optional<signature> cached_signature;
  };

  struct fetched_template {
    bool exists = false;
    int active = 0, version = 0;
    template_flags flags;
    std::shared_ptr<const variants> v; // null: no such version
  };

  void look_up(std::vector<lookup_op> ops) {
    const auto now = steady::now();
    sweep(heads, now);
    sweep(signatures, now);
    json contacts = json::array(), recipients = json::array(), templates = json::array(),
         sigs = json::array();
    std::map<std::string, int> template_rows, signature_rows; // dedup within the batch
    std::vector<plan> plans(ops.size());
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const content_query& q = ops[i].q;
      plan& p = plans[i];
      const std::string tenant = clean(q.tenant);
      p.contacts_at = contacts.size();
      for (const auto& ref : q.contacts) {
        json c = {{"r", contacts.size()}, {"t", tenant}};
        if (ref.id)
          c["id"] = *ref.id;
        else
          c["e"] = clean(ref.email);
        contacts.push_back(std::move(c));
      }
      p.recipients_at = recipients.size();
      for (const auto& a : q.recipients)
        recipients.push_back({{"r", recipients.size()}, {"t", tenant}, {"a", clean(a)}});
      if (q.tmpl) {
        const std::string name = clean(q.tmpl->name);
        p.head_key = key2(tenant, name);
        if (auto h = heads.find(p.head_key); h != heads.end() && h->second.expires > now)
          p.cached_head = h->second;
        const int version = q.tmpl->version.value_or(p.cached_head ? p.cached_head->active : 0);
        if (p.cached_head && version > 0)
          p.cached_variants = cached_version(version_key(tenant, name, version));
        if (p.cached_head && (p.cached_variants || version == 0)) {
          ++hits;
        } else {
          ++misses;
          p.cached_head.reset();
          p.cached_variants.reset();
          const std::string row_key =
              p.head_key + '\0' + (q.tmpl->version ? std::to_string(*q.tmpl->version) : "");
          auto [it, added] = template_rows.emplace(row_key, static_cast<int>(templates.size()));
          if (added) {
            json t = {{"r", templates.size()}, {"t", tenant}, {"n", name}};
            if (q.tmpl->version) t["v"] = *q.tmpl->version;
            templates.push_back(std::move(t));
          }
          p.template_row = it->second;
        }
      }
      if (q.sender) {
        const std::string sender = address_key(clean(*q.sender));
        p.signature_key = key2(tenant, sender);
        if (auto s = signatures.find(p.signature_key);
            s != signatures.end() && s->second.expires > now) {
          ++sig_hits;
          p.cached_signature = s->second.sig;
        } else {
          auto [it, added] = signature_rows.emplace(p.signature_key, static_cast<int>(sigs.size()));
          if (added) sigs.push_back({{"r", sigs.size()}, {"t", tenant}, {"s", sender}});
          p.signature_row = it->second;
        }
      }
    }

    std::vector<std::optional<contact>> found_contacts(contacts.size());
    std::vector<std::vector<suppression>> entries(recipients.size());
    std::vector<std::vector<suppression>> contact_entries(contacts.size());
    std::vector<fetched_template> fetched(templates.size());
    std::vector<std::optional<signature>> found_signatures(sigs.size());
    if (!contacts.empty() || !recipients.empty() || !templates.empty() || !sigs.empty()) {
      std::string why;
      pqxx::result rows;
      const auto result = attempt(
          [&](pqxx::connection& c) {
            pqxx::nontransaction n(c);
            rows = n.exec_prepared(lookup_statement, detail::to_param(contacts),
                                   detail::to_param(recipients), detail::to_param(templates),
                                   detail::to_param(sigs));
          },
          why);
      if (result != outcome::done) {
        if (result == outcome::refused && ops.size() > 1) { // answer the others, then this one
          for (auto& op : ops) {
            std::vector<lookup_op> one;
            one.push_back(std::move(op));
            look_up(std::move(one));
          }
          return;
        }
        if (result == outcome::refused)
          detail::log_event(spdlog::level::err, "content.lookup_refused",
                            {{"tenant", ops.front().q.tenant}, {"error", why}});
        for (auto& op : ops)
          answer(op.done, failed(result == outcome::abandoned ? stopped_error
                                                              : "content look-up failed: " + why));
        return;
      }
      // Reading the rows cannot fail with rows this statement wrote; if it did, the batch is
      // answered with the error rather than the thread ending.
      try {
        read_rows(rows, contacts, recipients, templates, sigs, found_contacts, entries,
                  contact_entries, fetched, found_signatures);
      } catch (const std::exception& e) {
        detail::log_event(spdlog::level::err, "content.lookup_unreadable", {{"error", e.what()}});
        for (auto& op : ops)
          answer(op.done, failed(std::string("content look-up failed: ") + e.what()));
        return;
      }
    }
    ++batches;

    for (std::size_t i = 0; i < ops.size(); ++i) {
      const content_query& q = ops[i].q;
      const plan& p = plans[i];
      content_answer a;
      for (std::size_t k = 0; k < q.contacts.size(); ++k)
        a.contacts.push_back(std::move(found_contacts[p.contacts_at + k]));
      for (std::size_t k = 0; k < q.recipients.size(); ++k)
        if (const auto* s = store::stopping(entries[p.recipients_at + k], q.category, q.list))
          a.suppressed.push_back(*s);
      for (std::size_t k = 0; k < q.contacts.size(); ++k)
        if (const auto* s = store::stopping(contact_entries[p.contacts_at + k], q.category, q.list))
          a.suppressed.push_back(*s);
      if (q.tmpl) resolve(q, p, fetched, a);
      if (q.sender)
        a.sig = p.signature_row >= 0 ? found_signatures[static_cast<std::size_t>(p.signature_row)]
                                     : p.cached_signature;
      answer(ops[i].done, std::move(a));
    }
  }

  void read_rows(const pqxx::result& rows, const json& contacts, const json& recipients,
                 const json& templates, const json& sigs,
                 std::vector<std::optional<contact>>& found_contacts,
                 std::vector<std::vector<suppression>>& entries,
                 std::vector<std::vector<suppression>>& contact_entries,
                 std::vector<fetched_template>& fetched,
                 std::vector<std::optional<signature>>& found_signatures) {
    const auto expires_head = steady::now() + cfg.template_ttl;
    const auto expires_signature = steady::now() + cfg.signature_ttl;
    for (const auto& row : rows) {
      const std::string kind = row[0].c_str();
      const auto r = row[1].as<std::size_t>();
      const json p = row[2].is_null() ? json() : json::parse(row[2].c_str());
      if (kind == "c") {
        contact c;
        c.id = p.at("id").get<std::int64_t>();
        c.tenant = contacts.at(r).at("t").get<std::string>();
        c.email = p.value("email", "");
        c.name = p.value("name", "");
        c.company = p.value("company", "");
        c.locale = p.value("locale", "");
        c.attributes = p.value("attributes", json::object());
        c.created_at = detail::from_epoch_us(p.value("c", std::int64_t{0}));
        c.updated_at = detail::from_epoch_us(p.value("u", std::int64_t{0}));
        found_contacts.at(r) = std::move(c);
      } else if (kind == "s" || kind == "x") {
        suppression s;
        s.tenant = (kind == "s" ? recipients : contacts).at(r).at("t").get<std::string>();
        s.address = p.value("address", "");
        s.reason =
            suppression_reason_from(p.value("reason", "")).value_or(suppression_reason::manual);
        s.list = p.value("list", "");
        s.since = detail::from_epoch_us(p.value("since", std::int64_t{0}));
        s.source_request_id = p.value("src", "");
        s.note = p.value("note", "");
        (kind == "s" ? entries : contact_entries).at(r).push_back(std::move(s));
      } else if (kind == "t") {
        fetched_template& f = fetched.at(r);
        f.exists = true;
        f.active = p.value("active", json()).is_number() ? p["active"].get<int>() : 0;
        f.version = p.value("version", json()).is_number() ? p["version"].get<int>() : 0;
        f.flags = {p.value("strict", false), p.value("raw", false)};
        if (p.contains("variants") && p["variants"].is_array()) {
          auto v = std::make_shared<variants>();
          for (const auto& j : p["variants"])
            v->push_back(parts_of(j));
          f.v = std::move(v);
        }
        const auto& ref = templates.at(r);
        const std::string tenant = ref.at("t").get<std::string>(),
                          name = ref.at("n").get<std::string>();
        heads[key2(tenant, name)] = head{f.active, f.flags, expires_head};
        if (f.v) cache_version(version_key(tenant, name, f.version), f.v);
      } else if (kind == "g") {
        const auto& ref = sigs.at(r);
        std::optional<signature> s;
        if (!p.is_null())
          s = signature{ref.at("t").get<std::string>(), p.value("sender", ""), p.value("html", ""),
                        p.value("text", ""), detail::from_epoch_us(p.value("u", std::int64_t{0}))};
        found_signatures.at(r) = s;
        signatures[key2(ref.at("t").get<std::string>(), ref.at("s").get<std::string>())] =
            signature_slot{s, expires_signature};
      }
    }
    // A template asked for and not returned does not exist (any more): forget its head.
    for (std::size_t r = 0; r < templates.size(); ++r)
      if (!fetched[r].exists)
        heads.erase(key2(templates.at(r).at("t").get<std::string>(),
                         templates.at(r).at("n").get<std::string>()));
  }

  static void resolve(const content_query& q, const plan& p,
                      const std::vector<fetched_template>& fetched, content_answer& a) {
    const template_ref& ref = *q.tmpl;
    const std::string label = "template '" + ref.name + "'";
    int active = 0, version = 0;
    template_flags flags;
    std::shared_ptr<const variants> v;
    if (p.template_row >= 0) {
      const fetched_template& f = fetched[static_cast<std::size_t>(p.template_row)];
      if (!f.exists) {
        a.template_error = "unknown " + label;
        return;
      }
      active = f.active;
      version = f.version;
      flags = f.flags;
      v = f.v;
    } else {
      active = p.cached_head->active;
      version = ref.version.value_or(active);
      flags = p.cached_head->flags;
      v = p.cached_variants;
    }
    if (version == 0) {
      a.template_error = label + " has no version";
      return;
    }
    if (!v) {
      a.template_error = "unknown version " + std::to_string(version) + " of " + label;
      return;
    }
    std::vector<std::string> locales = ref.locales;
    if (ref.contact_locale && !a.contacts.empty() && a.contacts.front() &&
        !a.contacts.front()->locale.empty())
      locales.push_back(a.contacts.front()->locale);
    const template_parts* parts = pick_variant(*v, locales);
    if (!parts) {
      std::string wanted;
      for (const auto& l : locales)
        wanted += (wanted.empty() ? "" : ", ") + l;
      a.template_error = label + " version " + std::to_string(version) + " has no variant for " +
                         (wanted.empty() ? "no locale" : wanted) + " and no default variant";
      return;
    }
    a.tmpl = resolved_template{ref.name, version, flags, *parts};
  }

  // --- the thread ----------------------------------------------------------------------------

  void run() {
    std::unique_lock lk(mu);
    for (;;) {
      if (stopping && ((lookups.empty() && writes.empty()) || steady::now() >= stop_deadline))
        break;
      if (lookups.empty() && writes.empty()) {
        cv.wait(lk);
        continue;
      }
      std::vector<suppress_op> w;
      while (!writes.empty() && w.size() < cfg.batch_max) {
        w.push_back(std::move(writes.front()));
        writes.pop_front();
      }
      std::vector<lookup_op> l;
      while (!lookups.empty() && l.size() < cfg.batch_max) {
        l.push_back(std::move(lookups.front()));
        lookups.pop_front();
      }
      in_flight = w.size() + l.size();
      lk.unlock();
      if (!w.empty()) write(std::move(w));
      if (!l.empty()) look_up(std::move(l));
      lk.lock();
      in_flight = 0;
    }
    abandon(lk);
    lk.unlock();
    conn.reset();
  }

  // Under lk: answers every queued operation with the stop error (callbacks outside the lock).
  void abandon(std::unique_lock<std::mutex>& lk) {
    std::deque<lookup_op> l = std::move(lookups);
    std::deque<suppress_op> w = std::move(writes);
    lookups.clear();
    writes.clear();
    lk.unlock();
    if (!l.empty() || !w.empty())
      detail::log_event(spdlog::level::warn, "content.stopped_with_pending",
                        {{"lookups", l.size()}, {"writes", w.size()}});
    for (auto& op : w)
      answer(op.done, stopped_error);
    for (auto& op : l)
      answer(op.done, failed(stopped_error));
    lk.lock();
  }
};

content_lookup::content_lookup(content_lookup_config cfg)
    : impl_(std::make_unique<impl>(std::move(cfg))) {}

content_lookup::~content_lookup() {
  stop();
}

void content_lookup::start() {
  std::lock_guard lk(impl_->mu);
  if (impl_->started || impl_->stopping) return;
  impl_->started = true;
  impl_->worker = std::thread([this] { impl_->run(); });
}

void content_lookup::stop(std::chrono::milliseconds deadline) {
  {
    std::lock_guard lk(impl_->mu);
    if (!impl_->stopping) {
      impl_->stopping = true;
      impl_->stop_deadline = steady::now() + deadline;
    }
  }
  impl_->cv.notify_all();
  if (impl_->worker.joinable()) {
    impl_->worker.join();
  } else {
    std::unique_lock lk(impl_->mu); // never started: nothing will answer what was queued
    impl_->abandon(lk);
  }
}

void content_lookup::lookup(content_query q, std::function<void(content_answer)> done) {
  {
    std::lock_guard lk(impl_->mu);
    if (!impl_->stopping) {
      impl_->lookups.push_back({std::move(q), std::move(done)});
      impl_->cv.notify_one();
      return;
    }
  }
  answer(done, failed(stopped_error));
}

void content_lookup::suppress(suppression s, std::function<void(std::string)> done) {
  {
    std::lock_guard lk(impl_->mu);
    if (!impl_->stopping) {
      impl_->writes.push_back({std::move(s), std::move(done)});
      impl_->cv.notify_one();
      return;
    }
  }
  answer(done, stopped_error);
}

bool content_lookup::healthy() const {
  return impl_->healthy;
}
std::uint64_t content_lookup::statements() const {
  return impl_->statements;
}
std::uint64_t content_lookup::batches() const {
  return impl_->batches;
}
std::uint64_t content_lookup::template_cache_hits() const {
  return impl_->hits;
}
std::uint64_t content_lookup::template_cache_misses() const {
  return impl_->misses;
}
std::uint64_t content_lookup::signature_cache_hits() const {
  return impl_->sig_hits;
}
std::size_t content_lookup::pending() const {
  std::lock_guard lk(impl_->mu);
  return impl_->lookups.size() + impl_->writes.size() + impl_->in_flight;
}

} // namespace iaposte::store
