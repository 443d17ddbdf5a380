// One coroutine per request, in stages over its `flight`: intake (parse, look up, render),
// compose, claim, AI content, delivery with backoff (after_attempt decides), settle (record
// and publish the outcome before the offset may be committed).
#include "worker/worker.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <mutex>
#include <random>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "ai/client.hpp"
#include "content/stage.hpp"
#include "core/failpoint.hpp"
#include "core/status.hpp"
#include "core/text.hpp"
#include "log/log.hpp"
#include "mime/compose.hpp"
#include "render/render.hpp"
#include "smtp/dispatch.hpp"
#include "store/content_lookup.hpp"
#include "store/store.hpp"
#include "worker/after_attempt.hpp"
#include "worker/bridge.hpp"

namespace iaposte::worker {

namespace asio = boost::asio;
using asio::awaitable;
using namespace asio::experimental::awaitable_operators;
using core::status;

// GCC 12 miscompiles some shapes inside coroutines; keep their bodies plain:
// - a braced list of string literals in a coroutine frame (below);
// - a closure passed by value to a coroutine is copied bitwise (record());
// - co_await inside ?: or as the right operand of && / ||;
// - when handle() was split into stages, two small helper coroutines, each awaited from
//   another stage, saw their own frame as garbage under ASan (a stage made of
//   `if (x) co_return true; if (!co_await g()) co_return false; co_return true;`, and one
//   made of `if (co_await settle(ev)) {...}`): such bodies stay inline in their caller.
// The statuses an attempt that reached its final dot can end with (outside the coroutine).
const std::vector<std::string>& attempt_outcomes() {
  static const std::vector<std::string> v{"sent", "bounced", "failed", "deferred"};
  return v;
}

struct worker::impl : std::enable_shared_from_this<impl> {
  asio::any_io_executor ex;
  worker_config cfg;
  kafka::producer& producer;
  store::store& db;
  smtp::dispatcher& smtp;
  std::function<void(const kafka::message&)> finished;
  kafka::key_finder* finder;
  ai::client* ai;
  std::function<void(kafka::message&)> release_slot;
  content::stage& stage;
  store::content_lookup* lookup;
  // The content stage's CPU work (rendering, DKIM: about a millisecond with RSA) runs here,
  // never on the executor's thread.
  asio::thread_pool cpu;

  std::atomic<std::size_t> active{0};
  bool stopping = false;                  // executor thread only
  std::set<asio::steady_timer*> sleepers; // executor thread only
  counters stats;                         // executor thread only
  // Requests being handled here ("tenant\n request_id"): a second copy (a retry topic's copy
  // next to a redelivered original) waits for the first, since claims by one owner succeed.
  std::set<std::string> handling; // executor thread only
  std::mt19937_64 rng{std::random_device{}()};

  // The longest wait between two scans of the status topic that failed.
  static constexpr std::chrono::milliseconds max_lookup_wait{10000};

  // One consumed record, for its whole life in the worker (across internal-error retries).
  struct job {
    kafka::message m;
    // Why its consumer slot was given back (release_slot), if it was.
    enum class wait_kind { none, ai, other };
    wait_kind parked = wait_kind::none;
  };

  impl(asio::any_io_executor e, worker_config c, kafka::producer& p, store::store& s,
       smtp::dispatcher& m, std::function<void(const kafka::message&)> f, kafka::key_finder* kf,
       ai::client* a, std::function<void(kafka::message&)> r, content::stage& st,
       store::content_lookup* lk)
      : ex(std::move(e)), cfg(std::move(c)), producer(p), db(s), smtp(m), finished(std::move(f)),
        finder(kf), ai(a), release_slot(std::move(r)), stage(st), lookup(lk),
        cpu(std::max<std::size_t>(cfg.content_threads, 1)) {}

  // `fn()` on the CPU pool; the coroutine resumes on its executor with the result. `fn` and
  // what it refers to live in the caller's frame, which is suspended meanwhile.
  template <class T, class Fn> awaitable<T> on_pool(const Fn& fn) {
    const Fn* f = &fn;
    co_return co_await await_callback<T>(
        [this, f](auto done) { asio::post(cpu, [f, done] { done((*f)()); }); });
  }

  // What the store holds for a request (content_lookup: batched, on its own thread).
  awaitable<store::content_answer> look_up(store::content_query q) {
    store::content_query* query = &q;
    co_return co_await await_callback<store::content_answer>(
        [this, query](auto done) { lookup->lookup(std::move(*query), std::move(done)); });
  }

  // Takes the suppressed recipients out of the envelope; says which and why.
  static std::string drop_suppressed(std::vector<std::string>& rcpts,
                                     const std::vector<store::suppression>& suppressed) {
    std::string said;
    for (const auto& s : suppressed) {
      auto it = std::find_if(rcpts.begin(), rcpts.end(), [&](const std::string& r) {
        return store::address_key(r) == s.address;
      });
      if (it == rcpts.end()) continue; // a contact that is not a recipient
      said += (said.empty() ? "" : "; ") + *it + " (" + std::string(store::to_string(s.reason)) +
              (s.list.empty() ? "" : ", list " + s.list) + ")";
      rcpts.erase(it);
    }
    return said;
  }

  // A recipient refused for good with an enhanced code 5.1.x (bad mailbox or domain, RFC 3463
  // §3.2) goes on the tenant's suppression list: the next mail to it ends `suppressed`
  // instead of hurting the sender's reputation with another bounce.
  void suppress_hard_bounces(const core::request& req, const smtp::verdict& v) {
    if (!lookup) return;
    for (const auto& b : v.bounced) {
      const smtp::reply& r = b.last;
      if (!r.bad_address()) continue;
      store::suppression s;
      s.tenant = req.tenant;
      s.address = store::address_key(b.address);
      s.reason = store::suppression_reason::hard_bounce;
      s.source_request_id = req.request_id;
      s.note = core::clean_text(std::to_string(r.code) + " " + r.enhanced + " " + r.text(), 200);
      lookup->suppress(std::move(s));
      log::info(
          "request.suppressed_address",
          {{"request_id", req.request_id}, {"tenant", req.tenant}, {"reason", "hard_bounce"}});
    }
  }

  // What the status topic says of a request (find_published).
  struct topic_answer {
    bool read = false;                   // false: stopping before the topic could be read
    std::optional<nlohmann::json> event; // none: not on the topic (or no finder)
  };
  struct scan_result {
    std::optional<std::string> payload;
    std::string error;
  };

  // The status event of this request already on the status topic (published before a
  // crash that kept its record or its "published" mark from PostgreSQL): the last one with
  // one of `statuses` (and attempt `attempt` when not negative), from the request's last
  // recorded event on. A scan that fails (the broker restarting) is not an answer: acting on
  // it as "not there" would publish a second terminal event, so the scan is repeated, with
  // the request's slot given back meanwhile, until it completes or the worker stops.
  awaitable<topic_answer> find_published(job& j, const core::request& req,
                                         const store::claim_result& claim,
                                         const std::vector<std::string>& statuses, int attempt) {
    topic_answer answer;
    auto since = claim.last_event_at ? claim.last_event_at : claim.updated_at;
    if (!finder || !since) {
      answer.read = true;
      co_return answer;
    }
    const auto* wanted = &statuses;
    const std::string* tenant = &req.tenant;
    for (std::chrono::milliseconds wait{500};; wait = std::min(2 * wait, max_lookup_wait)) {
      // The margin covers clock skew between this host and the one that published.
      auto scan = co_await await_callback<scan_result>([&](auto done) {
        finder->find(
            req.request_id, *since - std::chrono::seconds(5),
            [wanted, tenant, attempt](std::string_view p) {
              auto e = nlohmann::json::parse(p, nullptr, false);
              if (!e.is_object() || e.value("tenant", "") != *tenant) return false;
              if (attempt >= 0 && e.value("attempt", -1) != attempt) return false;
              const std::string st = e.value("status", "");
              return std::find(wanted->begin(), wanted->end(), st) != wanted->end();
            },
            [done](std::optional<std::string> found, std::string error) {
              done(scan_result{std::move(found), std::move(error)});
            });
      });
      if (scan.error.empty()) {
        answer.read = true;
        if (scan.payload) answer.event = nlohmann::json::parse(*scan.payload, nullptr, false);
        co_return answer;
      }
      log::warn("request.status_lookup_failed", {{"request_id", req.request_id},
                                                 {"tenant", req.tenant},
                                                 {"error", core::clean_text(scan.error, 256)},
                                                 {"retry_ms", wait.count()}});
      park(j, job::wait_kind::other);
      if (!co_await sleep(wait)) co_return answer;
    }
  }

  static std::optional<core::status_event> event_of(const nlohmann::json& j,
                                                    const std::string& request_id) {
    try {
      return core::status_event_from_json(j);
    } catch (const std::exception& e) {
      log::warn("request.status_unreadable", {{"request_id", request_id}, {"error", e.what()}});
      return std::nullopt;
    }
  }

  // The outcome of an unconfirmed attempt, found on the status topic: recorded as it was,
  // and this redelivery ends as a duplicate.
  awaitable<void> adopt(const kafka::message& m, const core::status_event& was,
                        core::status_event dup) {
    const std::string state(core::to_string(was.status));
    log::info("request.duplicate", {{"request_id", was.request_id},
                                    {"tenant", was.tenant},
                                    {"state", state},
                                    {"found_on_status_topic", true}});
    dup.reason = "already " + state;
    auto [recorded, settled] = co_await (record(was, true) && settle(dup));
    if (recorded && settled) {
      count(status::duplicate);
      finished(m);
    }
  }

  // Waits `d`; false when the worker is stopping (the request is left for redelivery).
  awaitable<bool> sleep(std::chrono::milliseconds d) {
    if (stopping) co_return false;
    asio::steady_timer timer(ex, d);
    sleepers.insert(&timer);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    sleepers.erase(&timer);
    co_return !stopping;
  }

  // The history row of `ev`: its texts (a producer's input, an SMTP server's reply) cleaned
  // and bounded like the event's own.
  static store::event_record record_of(const core::status_event& ev) {
    std::optional<core::smtp_reply_info> smtp = ev.smtp;
    if (smtp) {
      smtp->enhanced = core::clean_text(smtp->enhanced, 16);
      smtp->text = core::clean_text(smtp->text);
    }
    return store::event_record{ev.tenant,
                               ev.request_id,
                               ev.status,
                               ev.attempt,
                               ev.message_id,
                               std::move(smtp),
                               core::clean_text(ev.reason),
                               ev.next_attempt_at,
                               ev.timestamp};
  }

  // `published`: the broker acknowledged `ev` (a terminal event): the same write marks it.
  // `content`: the message to store with it when the row holds none (see note()).
  awaitable<bool> record(const core::status_event& ev, bool published = false,
                         const std::string* content = nullptr) {
    // The record lives in this frame; the callable captures only pointers. GCC 12 copies a
    // closure passed by value into a coroutine bitwise, so a closure owning a std::string
    // would hand the store a string pointing into this frame (seen under ASan).
    store::event_record rec = record_of(ev);
    rec.published = published;
    if (content) rec.content = *content;
    co_return co_await await_callback<bool>(
        [this, r = &rec](auto done) { db.record(std::move(*r), [done] { done(true); }); });
  }

  // The hold on an attempt's final dots (at_most_once): its `sending` record starts with the
  // attempt's first SMTP transaction, so that the commit overlaps MAIL, RCPT, DATA and the
  // body, and each final dot waits for it, at most confirm_timeout after its start (false:
  // no dot; the record still completes later, in order with what is queued after it, so the
  // attempt's outcome recorded next is never overtaken). Self-fence: with a stale heartbeat
  // the claim may be taken over any moment; then nothing is recorded and no dot written.
  struct sending_mark {
    sending_mark(asio::any_io_executor ex, store::event_record r)
        : rec(std::move(r)), timer(std::move(ex)) {}
    store::event_record rec;
    bool started = false, done = false;
    asio::steady_timer timer;
  };

  void start_sending(const std::shared_ptr<sending_mark>& m) {
    if (m->started || !db.leases_safe()) return;
    m->started = true;
    m->timer.expires_after(cfg.confirm_timeout);
    db.record(std::move(m->rec), [m, e = ex] {
      asio::post(e, [m] {
        m->done = true;
        m->timer.cancel();
      });
    });
  }

  smtp::dot_gate sending_gate(const core::status_event& sending) {
    auto m = std::make_shared<sending_mark>(ex, record_of(sending));
    smtp::dot_gate g;
    g.start = [this, m] { start_sending(m); };
    g.confirm = [this, m]() -> awaitable<bool> {
      start_sending(m);
      if (!m->started || !db.leases_safe()) co_return false;
      ++stats.dot_holds;
      if (!m->done) {
        const auto from = std::chrono::steady_clock::now();
        boost::system::error_code ec;
        co_await m->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        stats.dot_hold_us +=
            static_cast<std::size_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                         std::chrono::steady_clock::now() - from)
                                         .count());
      }
      co_return m->done;
    };
    return g;
  }

  // Produces until the broker acknowledges; false only when stopping.
  awaitable<bool> produce(const std::string& topic, const std::string& key,
                          const std::string& payload, kafka::headers hdrs = {}) {
    for (;;) {
      std::string err = co_await await_callback<std::string>(
          [&](auto done) { producer.produce(topic, key, payload, std::move(done), hdrs); });
      if (err.empty()) co_return true;
      log::warn("kafka.produce_failed", {{"request_id", key}, {"topic", topic}, {"error", err}});
      if (!co_await sleep(std::chrono::milliseconds{1000})) co_return false;
    }
  }

  awaitable<bool> publish(const core::status_event& ev) {
    co_return co_await produce(cfg.status_topic, ev.request_id, core::serialize(ev));
  }

  // Durable outcome: acknowledged by the broker, then recorded in PostgreSQL with its
  // published mark, in one write of the row. A crash in between leaves the row as it was
  // (`sending` after a final dot): the next claim finds the outcome on the status topic
  // (recover(), adopt()). False only when stopping.
  awaitable<bool> settle(const core::status_event& ev) {
    bool done = co_await publish(ev);
    if (done) done = co_await record(ev, true);
    co_return done;
  }

  // A transition that does not gate the commit (accepted, deferred): fire and forget,
  // ordered behind earlier ones in both the store queue and the producer's partition.
  // `recorded`: already in the history (the claim wrote it): only published. `content`: the
  // message, stored with the record when the row holds none.
  void note(core::status_event ev, bool recorded = false, std::string content = {}) {
    asio::co_spawn(
        ex,
        [self = shared_from_this(), ev = std::move(ev), recorded,
         content = std::move(content)]() -> awaitable<void> {
          if (recorded)
            co_await self->publish(ev);
          else
            co_await (self->record(ev, false, &content) && self->publish(ev));
        },
        asio::detached);
  }

  // Hands the request back (its lease cleared) so that another instance may take it at once.
  void release(const core::request& req) {
    db.release(req.tenant, req.request_id, [] {});
  }

  void count(status s) {
    switch (s) {
    case status::sent:
      ++stats.sent;
      break;
    case status::deferred:
      ++stats.deferred;
      break;
    case status::bounced:
      ++stats.bounced;
      break;
    case status::failed:
      ++stats.failed;
      break;
    case status::rejected:
      ++stats.rejected;
      break;
    case status::duplicate:
      ++stats.duplicate;
      break;
    case status::suppressed:
      ++stats.suppressed;
      break;
    case status::accepted:
    case status::sending:
      break;
    }
  }

  static nlohmann::json ai_json(const ai::result& r) {
    return {{"provider", r.provider},
            {"model", r.model},
            {"cached", r.cached},
            {"fallback", r.fallback},
            {"sentiment",
             {{"label", r.sentiment.label},
              {"score", r.sentiment.score},
              {"source", r.sentiment.source}}}};
  }

  bool holds_negative(const std::string& tenant) const {
    return cfg.hold_negative_tenants.count("*") || cfg.hold_negative_tenants.count(tenant);
  }

  enum class waited { ready, stopped, handed_off };

  // Waits until `target`: in-process when it is near (or no retry topic fits), otherwise
  // hands the request to the retry topic with the longest delay not above the wait, its
  // lease released first; the caller then commits the message (`handed_off`). The copy
  // carries the time it is wanted (due_header) and when the request was first produced.
  awaitable<waited> wait_until(core::clock::time_point target, const kafka::message& m,
                               const core::request& req, core::clock::time_point first_seen) {
    auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(target - core::clock::now());
    if (remaining.count() <= 0) co_return waited::ready;
    const kafka::retry_tier* tier = kafka::tier_for(cfg.retry_tiers, remaining, cfg.in_process_max);
    if (!tier) co_return co_await sleep(remaining) ? waited::ready : waited::stopped;

    co_await await_callback<bool>(
        [&](auto done) { db.release(req.tenant, req.request_id, [done] { done(true); }); });
    kafka::headers hdrs = kafka::retry_headers(m, *tier, core::clock::now(), target, first_seen);
    if (!co_await produce(tier->topic, req.request_id, m.payload, std::move(hdrs)))
      co_return waited::stopped;
    ++stats.handed_off;
    log::info("request.handed_off", {{"request_id", req.request_id},
                                     {"tenant", req.tenant},
                                     {"topic", tier->topic},
                                     {"due_in_ms", remaining.count()}});
    co_return waited::handed_off;
  }

  // A request that gave up: its copy on the DLQ, with the reason and the last SMTP reply.
  awaitable<bool> copy_to_dlq(const kafka::message& m, const core::status_event& ev) {
    std::optional<std::string> last_reply;
    if (ev.smtp)
      last_reply = core::clean_text(std::to_string(ev.smtp->code) + " " + ev.smtp->enhanced +
                                    (ev.smtp->enhanced.empty() ? "" : " ") + ev.smtp->text);
    kafka::headers hdrs = kafka::dlq_headers(m, core::to_string(ev.status),
                                             core::clean_text(ev.reason), std::move(last_reply));
    co_return co_await produce(cfg.dlq_topic, ev.request_id, m.payload, std::move(hdrs));
  }

  awaitable<void> reject(const kafka::message& m, std::string request_id, std::string tenant,
                         nlohmann::json metadata, const std::string& why,
                         nlohmann::json ai_info = nullptr) {
    const std::string reason = core::clean_text(why);
    if (request_id.empty()) request_id = kafka::unkeyed_id(m);
    if (tenant.empty()) tenant = "_unknown";
    core::status_event ev;
    ev.request_id = std::move(request_id);
    ev.tenant = std::move(tenant);
    ev.status = status::rejected;
    ev.reason = reason;
    ev.metadata = std::move(metadata);
    ev.ai = std::move(ai_info);
    log::warn("request.rejected", {{"request_id", ev.request_id},
                                   {"tenant", ev.tenant},
                                   {"reason", reason},
                                   {"source", kafka::source_of(m)}});
    kafka::headers hdrs = kafka::rejected_headers(m, reason);
    auto [settled, copied] =
        co_await (settle(ev) && produce(cfg.dlq_topic, ev.request_id, m.payload, std::move(hdrs)));
    if (settled && copied) {
      count(status::rejected);
      finished(m);
    }
  }

  // Claims a request this instance holds again (to store its content, or to renew the lease
  // before a retry). Empty when another instance took it over meanwhile (a rebalance): it is
  // theirs now; when it already ended there, its outcome is durable and published, and this
  // message is done.
  awaitable<std::optional<store::claim_result>> claim_again(const kafka::message& m,
                                                            const core::request& req,
                                                            const store::claim_request& claim_req) {
    auto again = co_await await_callback<store::claim_result>(
        [&](auto done) { db.claim(claim_req, std::move(done)); });
    if (again.kind == store::claim_result::kind::resumed) co_return again;
    log::info("request.taken_over",
              {{"request_id", req.request_id}, {"tenant", req.tenant}, {"state", again.state}});
    // This copy is done either way: ended (durable and published there), or in the hands of
    // the instance that holds it now, whose own copy of the record ends it. Its slot and
    // its place under the partition's watermark must not be held by a copy that will never
    // end (they were, until the intake audit of issue 11).
    finished(m);
    co_return std::nullopt;
  }

  // Runs the AI chain for `req`: the rendered `content` is its input (personalize) or its
  // fallback (generate); the chain ends in it, so a model down never loses the request. Its
  // answer is validated by the client; its tone may hold the message back (delivery policy
  // per tenant). Replaces `content` and sets `ai_info`; false when the request was rejected.
  awaitable<bool> write_with_ai(const kafka::message& m, const core::request& req,
                                content::draft& draft, nlohmann::json& ai_info) {
    mime::content& content = draft.content;
    ai::request ar;
    ar.kind = req.ai->mode == "generate" ? ai::mode::generate : ai::mode::personalize;
    ar.tenant = req.tenant;
    ar.sender = req.from.email;
    ar.request_id = req.request_id;
    ar.subject = content.subject;
    ar.text = content.text;
    ar.html = content.html;
    ar.instructions = req.ai->instructions;
    ar.contact = draft.contact;
    if (!req.ai->style.empty()) {
      ai::style_profile sp;
      sp.tenant = req.tenant;
      sp.sender = req.from.email;
      sp.tone = req.ai->style;
      ar.style = std::move(sp);
    }
    ai::result res = co_await ai->run(ar);
    ai_info = ai_json(res);
    log::info("request.ai", {{"request_id", req.request_id},
                             {"tenant", req.tenant},
                             {"provider", res.provider},
                             {"cached", res.cached},
                             {"fallback", res.fallback},
                             {"sentiment", res.sentiment.label},
                             {"error", res.error}});
    if (res.sentiment.label == "negative" && holds_negative(req.tenant)) {
      co_await reject(m, req.request_id, req.tenant, req.metadata,
                      "held back: negative tone (score " + std::to_string(res.sentiment.score) +
                          ", " + res.sentiment.source + ") by the tenant's policy",
                      ai_info);
      co_return false;
    }
    content.subject = std::move(res.subject);
    content.text = std::move(res.text);
    content.html = std::move(res.html);
    if (!core::header_safe(content.subject) ||
        content.subject.size() + content.text.size() + content.html.size() >
            cfg.limits.max_body_bytes) {
      co_await reject(m, req.request_id, req.tenant, req.metadata,
                      "ai: the content produced is unsafe or too large", ai_info);
      co_return false;
    }
    co_return true;
  }

  // Gives `j`'s consumer slot back while it waits on something other than its own work
  // (the AI chain, another instance's lease, a retry after an internal error), within the
  // bound of that kind; its offset still holds the partition's watermark until it ends.
  void park(job& j, job::wait_kind why) {
    if (!release_slot || j.m.slot_released) return;
    const bool ai_wait = why == job::wait_kind::ai;
    std::size_t& n = ai_wait ? stats.ai_detached : stats.parked;
    if (n >= (ai_wait ? cfg.ai_max_waiting : cfg.max_parked)) return;
    release_slot(j.m);
    j.parked = why;
    ++n;
  }

  // The whole life of one record: handled, and handled again through the backoff when the
  // handling throws (a bug, never an input problem: those are rejections), at most
  // internal_error_attempts times; then it ends `failed` with a DLQ copy. No record is left
  // holding its slot or its partition's watermark, except by a stop (redelivered later).
  awaitable<void> run(kafka::message m) {
    ++stats.received;
    job j{std::move(m)};
    for (int failures = 1;; ++failures) {
      std::string error;
      try {
        co_await handle(j);
      } catch (const std::exception& e) {
        error = e.what();
      } catch (...) {
        error = "unknown exception";
      }
      if (error.empty()) break; // handled (or left for redelivery by a stop)
      error = core::clean_text(error, 256);
      ++stats.internal_errors;
      log::error("request.internal_error", {{"request_id", core::clean_text(j.m.key, 128)},
                                            {"source", kafka::source_of(j.m)},
                                            {"error", error},
                                            {"failures", failures},
                                            {"max_failures", cfg.internal_error_attempts}});
      if (failures >= cfg.internal_error_attempts) {
        co_await give_up(j.m, error);
        break;
      }
      park(j, job::wait_kind::other);
      auto delay = core::backoff_delay(cfg.backoff, failures,
                                       std::uniform_real_distribution<double>(0, 1)(rng));
      if (!co_await sleep(delay)) break; // stopping: redelivered after the restart
    }
    if (j.parked == job::wait_kind::ai) --stats.ai_detached;
    if (j.parked == job::wait_kind::other) --stats.parked;
  }

  // After repeated internal errors: `failed` with the error, and the record on the DLQ.
  // Only what parsing recovers is used, so that the code that failed is not run again.
  awaitable<void> give_up(const kafka::message& m, const std::string& error) {
    auto parsed = core::parse_request(m.payload, cfg.limits);
    core::status_event ev;
    ev.request_id = parsed.ok() ? parsed.value->request_id : parsed.request_id;
    ev.tenant = parsed.ok() ? parsed.value->tenant : parsed.tenant;
    if (ev.request_id.empty()) ev.request_id = kafka::unkeyed_id(m);
    if (ev.tenant.empty()) ev.tenant = "_unknown";
    ev.status = status::failed;
    ev.reason = "internal error: " + error;
    ev.metadata = std::move(parsed.metadata);
    auto [settled, copied] = co_await (settle(ev) && copy_to_dlq(m, ev));
    if (settled && copied) {
      count(status::failed);
      finished(m);
    }
  }

  // One request between intake and settle: what the stages hand each other. It lives in
  // handle()'s frame; each stage is a short coroutine over it.
  // Frees what `x` holds: moved out into a temporary that is destroyed here. (Assigning
  // an empty value is not enough: a std::string assigned a short one keeps its buffer.)
  template <class T> static void release(T& x) {
    T gone(std::move(x));
    x = T();
  }

  struct flight {
    core::request req;
    store::content_answer stored; // template, contacts, signature, suppressions
    content::draft draft;         // rendered, not yet composed
    bool uses_ai = false;
    nlohmann::json ai_info; // null: no AI; set once the content is written or found stored
    std::string message_id;
    core::clock::time_point date; // the message's Date
    // The recipients still to deliver: after a partial acceptance, only the refused-for-now
    // ones are retried (the accepted ones must not get it twice); suppressed ones never are.
    smtp::envelope env;
    std::string suppressed; // "a@x (unsubscribe), ..." dropped before sending
    progress settled;       // who has it, who was refused for good, across attempts
    store::claim_request claim_req;
    store::claim_result claim;
    // Delivery: the one copy of the signed message, the request's bounds, the attempts.
    std::string message;
    // The message is in PostgreSQL (messages.content): written by the model (stored with
    // its claim), or stored by an earlier deferral. A request sent at its first attempt
    // never stores it: nothing will send it again.
    bool message_stored = false;
    core::clock::time_point first_seen, deadline;
    std::optional<core::clock::time_point> wait_for;
    int attempt = 0;
    std::optional<core::smtp_reply_info> last_reply;
    std::string last_error;
    bool decided = false; // final_ev holds the outcome
    core::status_event final_ev;
  };

  core::status_event event(const flight& f, status s, int attempt) const {
    core::status_event ev;
    ev.request_id = f.req.request_id;
    ev.tenant = f.req.tenant;
    ev.status = s;
    ev.attempt = attempt;
    ev.message_id = f.message_id;
    ev.metadata = f.req.metadata;
    ev.ai = f.ai_info;
    return ev;
  }

  // The stages. Each returns false when it ended the handling (rejected, settled, stopped,
  // handed off); true when the next stage goes on.
  awaitable<void> handle(job& j) {
    flight f;
    if (!co_await intake(j.m, f)) co_return;
    // The content stage's last step (compose, sign). A request with ai is claimed first and
    // written only when nothing is stored yet (write_content): a redelivery or a retry
    // topic's copy never calls the model again. The message is stored only when it may be
    // sent again: the model's with its claim, the others with their first deferral
    // (try_once), so that every later attempt, after a restart or on another instance, sends
    // the same signed bytes (same Message-ID, same Date). A request sent at its first attempt
    // never writes its content (issue 13: the largest part of its WAL).
    if (!f.uses_ai) {
      const bool composed = co_await finish_content(j.m, f);
      if (!composed) co_return;
    }
    // A second copy of a request being handled here (a retry topic's copy next to a
    // redelivered original) waits for the first, since claims by one owner succeed.
    const std::string handling_key = f.req.tenant + '\n' + f.req.request_id;
    while (handling.count(handling_key))
      if (!co_await sleep(std::chrono::milliseconds{200})) co_return;
    handling.insert(handling_key);
    struct unmark {
      std::set<std::string>& set;
      const std::string& key;
      ~unmark() { set.erase(key); }
    } unmark_on_exit{handling, handling_key};

    if (!co_await take_claim(j, f)) co_return;
    if (!co_await write_content(j, f)) co_return;
    prepare_delivery(j.m, f);
    if (!co_await recover(j, f)) co_return;
    if (!f.decided) { // (no co_await inside && or ?: in a coroutine: GCC 12, see the top)
      if (!co_await deliver(j.m, f)) co_return;
    }
    co_await settle_outcome(j.m, f);
  }

  // Intake and validation: parse, one batched look-up of what the store holds for it, then
  // the content stage's render on the CPU pool.
  awaitable<bool> intake(const kafka::message& m, flight& f) {
    auto parsed = core::parse_request(m.payload, cfg.limits);
    if (!parsed.ok()) {
      co_await reject(m, parsed.request_id, parsed.tenant, parsed.metadata, parsed.error);
      co_return false;
    }
    f.req = std::move(*parsed.value);
    if (lookup) {
      f.stored = co_await look_up(content::stage::query_for(f.req));
      if (!f.stored.error.empty()) {
        if (stopping) co_return false;            // redelivered later
        throw std::runtime_error(f.stored.error); // PostgreSQL refused it: an internal error
      }
    }
    f.draft = co_await on_pool<content::draft>([&] { return stage.render(f.req, f.stored); });
    if (!f.draft.ok()) {
      co_await reject(m, f.req.request_id, f.req.tenant, f.req.metadata, f.draft.rejection);
      co_return false;
    }
    f.uses_ai = f.req.ai && ai;
    f.message_id = stage.message_id(f.req);
    f.env.mail_from = f.req.from.email;
    f.env.rcpt_to = f.req.envelope_recipients();
    f.suppressed = drop_suppressed(f.env.rcpt_to, f.stored.suppressed);
    f.date = f.req.send_at ? std::max(*f.req.send_at, core::clock::now()) : core::clock::now();
    f.claim_req.tenant = f.req.tenant;
    f.claim_req.request_id = f.req.request_id;
    f.claim_req.message_id = f.message_id;
    f.claim_req.sender = f.req.from.email;
    f.claim_req.subject = f.draft.content.subject;
    f.claim_req.recipients = static_cast<int>(f.env.rcpt_to.size());
    f.claim_req.source = kafka::source_of(m);
    f.claim_req.record_accepted = true; // a fresh claim writes the history's first step
    co_return true;
  }

  // The content stage's last step on the CPU pool: compose and sign.
  awaitable<bool> finish_content(const kafka::message& m, flight& f) {
    auto done = co_await on_pool<content::stage::finished>(
        [&] { return stage.finish(f.req, f.draft.content, f.message_id, f.date); });
    if (!done.rejection.empty()) {
      co_await reject(m, f.req.request_id, f.req.tenant, f.req.metadata, done.rejection, f.ai_info);
      co_return false;
    }
    f.message = std::move(done.message);
    f.message.shrink_to_fit(); // composed by appending: up to twice its size in capacity
    // What composed it is not needed any more, while the request waits for its claim, a
    // connection or a retry: freed, not only emptied (see release).
    release(f.draft);
    release(f.stored);
    release(f.req.text);
    release(f.req.html);
    release(f.req.markdown);
    release(f.req.variables_json);
    co_return true;
  }

  // The claim: takes the request (or waits while another instance holds it), ends a
  // duplicate, records `accepted`, ends a request whose every recipient is suppressed.
  awaitable<bool> take_claim(job& j, flight& f) {
    for (;;) {
      f.claim = co_await await_callback<store::claim_result>(
          [&](auto done) { db.claim(f.claim_req, std::move(done)); });
      if (f.claim.kind != store::claim_result::kind::busy) break;
      park(j, job::wait_kind::other); // waiting on someone else: the requests behind go on
      // Another instance holds the lease (a rebalance moved the partition while it was
      // still working on this request): wait for its outcome or for the lease to lapse.
      auto wait = std::chrono::milliseconds{1000};
      if (f.claim.lease_until)
        wait = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(
                              *f.claim.lease_until - core::clock::now()),
                          std::chrono::milliseconds{100}, wait);
      log::info("request.busy", {{"request_id", f.req.request_id},
                                 {"tenant", f.req.tenant},
                                 {"state", f.claim.state},
                                 {"wait_ms", wait.count()}});
      if (!co_await sleep(wait)) co_return false;
    }
    if (f.claim.kind == store::claim_result::kind::terminal) {
      co_await duplicate(j, f);
      co_return false;
    }
    if (f.claim.kind == store::claim_result::kind::fresh && cfg.publish_accepted)
      note(event(f, status::accepted, 0), true);
    if (core::failpoint("worker.after_claim", f.req.request_id))
      throw std::runtime_error("failpoint worker.after_claim");
    if (f.env.rcpt_to.empty()) {
      // Every recipient is on the suppression list for this mail: nothing is sent.
      auto ev = event(f, status::suppressed, f.claim.attempts);
      ev.reason = "every recipient is suppressed: " + f.suppressed;
      log::info("request.suppressed", {{"request_id", f.req.request_id}, {"tenant", f.req.tenant}});
      if (co_await settle(ev)) {
        count(ev.status);
        finished(j.m);
      }
      co_return false;
    }
    co_return true;
  }

  // A request already terminal in PostgreSQL: a duplicate, or its event republished when it
  // never reached the broker.
  awaitable<void> duplicate(job& j, flight& f) {
    const std::vector<std::string> terminal_state(1, f.claim.state);
    auto ev = event(f, status::duplicate, f.claim.attempts);
    topic_answer on_topic;
    if (!f.claim.published) {
      on_topic = co_await find_published(j, f.req, f.claim, terminal_state, -1);
      if (!on_topic.read) co_return; // stopping: redelivered later
    }
    if (f.claim.published) {
      ev.reason = "already " + f.claim.state;
      log::info(
          "request.duplicate",
          {{"request_id", f.req.request_id}, {"tenant", f.req.tenant}, {"state", f.claim.state}});
    } else if (on_topic.event) {
      // The event did reach the broker; only its mark was lost: a duplicate, as above.
      ev.reason = "already " + f.claim.state;
      log::info("request.duplicate", {{"request_id", f.req.request_id},
                                      {"tenant", f.req.tenant},
                                      {"state", f.claim.state},
                                      {"found_on_status_topic", true}});
    } else {
      // The outcome reached PostgreSQL but its event never reached the broker (a crash
      // in between): publish the recorded terminal event now, not a duplicate.
      ev.status = core::status_from_string(f.claim.state).value_or(status::duplicate);
      ev.smtp = f.claim.last_smtp;
      ev.reason = f.claim.reason;
      ++stats.republished;
      log::info(
          "request.republished",
          {{"request_id", f.req.request_id}, {"tenant", f.req.tenant}, {"state", f.claim.state}});
    }
    if (co_await settle(ev)) {
      count(ev.status);
      finished(j.m);
    }
  }

  // AI content: the f.stored one when an earlier delivery wrote it, else written now (the
  // request gives its consumer slot back meanwhile), composed and f.stored with the lease.
  awaitable<bool> write_content(job& j, flight& f) {
    if (!f.uses_ai) co_return true;
    if (!f.claim.content.empty()) {
      // Written by an earlier delivery of this request: sent as f.stored, said as recorded.
      if (!f.claim.content_meta.empty())
        f.ai_info = nlohmann::json::parse(f.claim.content_meta, nullptr, false);
      if (f.ai_info.is_discarded()) f.ai_info = nullptr;
      log::info("request.ai_reused", {{"request_id", f.req.request_id}, {"tenant", f.req.tenant}});
      co_return true;
    }
    // The model may be slow: this request gives its consumer slot back while it waits
    // (up to ai_max_waiting of them), so that requests without AI keep flowing.
    park(j, job::wait_kind::ai);
    if (!co_await write_with_ai(j.m, f.req, f.draft, f.ai_info)) co_return false; // rejected
    if (!co_await finish_content(j.m, f)) co_return false;
    f.claim_req.content = std::move(f.message);
    f.claim_req.content_meta =
        f.ai_info.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    // Stores the content with the lease this instance holds (the same owner's claim).
    auto again = co_await claim_again(j.m, f.req, f.claim_req);
    if (!again) co_return false;
    f.claim.content = std::move(again->content);
    co_return true;
  }

  // Before delivery: the request's bounds, and one copy of the message (the f.stored one wins);
  // later claims renew the lease without shipping it again. What it was made from is no
  // longer needed: a request may wait a long time (backoff, send_at, a busy relay), and
  // thousands do at once.
  void prepare_delivery(const kafka::message& m, flight& f) {
    // Every retry is bounded by the request's lifetime, counted from when it was first
    // produced (carried along the retry topics), and by its expires_at.
    f.first_seen =
        kafka::header_time(m, kafka::first_seen_header)
            .value_or(m.timestamp_ms > 0
                          ? core::clock::time_point(std::chrono::milliseconds(m.timestamp_ms))
                          : core::clock::now());
    // A scheduled request's lifetime starts at its send_at.
    f.deadline = std::max(f.first_seen, f.req.send_at.value_or(f.first_seen)) + cfg.lifetime;
    if (f.req.expires_at && *f.req.expires_at < f.deadline) f.deadline = *f.req.expires_at;

    // The stored message wins (the model's, or an earlier deferral's); none stored: the one
    // composed here.
    if (!f.claim.content.empty()) {
      f.message = std::move(f.claim.content);
      f.message_stored = true;
    }
    // The message is in f.message now: the claim's copies are freed, not only emptied (a
    // string assigned an empty one keeps its buffer), since the request may wait long.
    release(f.claim_req.content);
    release(f.claim.content);

    // The first wait: a scheduled send (send_at), or a retry topic's due time.
    f.wait_for = kafka::header_time(m, kafka::due_header);
    if (f.req.send_at && (!f.wait_for || *f.req.send_at > *f.wait_for)) f.wait_for = f.req.send_at;
    f.attempt = f.claim.attempts;
    f.last_reply = f.claim.last_smtp;
    f.last_error = f.claim.reason;
  }

  // Attempt number `attempt` was on its way (its final dot may have reached the server)
  // when the daemon that made it stopped. Its outcome may be on the status topic (published,
  // not recorded): then that is the truth. Otherwise it is reported sent, unconfirmed, and
  // not sent a second time.
  awaitable<bool> recover(job& j, flight& f) {
    if (!cfg.confirm_before_dot || f.claim.kind != store::claim_result::kind::resumed ||
        f.claim.state != "sending")
      co_return true;
    auto on_topic = co_await find_published(j, f.req, f.claim, attempt_outcomes(), f.attempt);
    if (!on_topic.read) co_return false; // stopping: redelivered later
    const auto& found = on_topic.event;
    if (found && found->value("status", std::string()) == "deferred")
      co_return true; // the dot got a 4xx: retried as usual
    if (found) {
      if (auto was = event_of(*found, f.req.request_id)) {
        auto dup = event(f, status::duplicate, f.attempt);
        co_await adopt(j.m, *was, std::move(dup));
        co_return false;
      }
    }
    f.final_ev = event(f, status::sent, f.attempt);
    f.final_ev.reason = "unconfirmed: attempt " + std::to_string(f.attempt) +
                        " reached the final dot before the daemon stopped; the server's reply "
                        "was never recorded, so the message is not sent again";
    f.decided = true;
    ++stats.unconfirmed;
    log::warn("request.unconfirmed",
              {{"request_id", f.req.request_id}, {"tenant", f.req.tenant}, {"attempt", f.attempt}});
    co_return true;
  }

  // Delivery: attempts with backoff until an outcome (final_ev) or the handling ends here
  // (stopped: redelivered; handed to a retry topic; taken over by another instance).
  awaitable<bool> deliver(const kafka::message& m, flight& f) {
    for (;;) {
      if (f.wait_for && *f.wait_for < f.deadline) {
        auto w = co_await wait_until(*f.wait_for, m, f.req, f.first_seen);
        if (w == waited::stopped) { // redelivered and resumed later, maybe elsewhere
          release(f.req);
          co_return false;
        }
        if (w == waited::handed_off) {
          finished(m);
          co_return false;
        }
      }
      f.wait_for.reset();
      if (core::clock::now() >= f.deadline) {
        f.final_ev = event(f, status::failed, f.attempt);
        f.final_ev.smtp = f.last_reply;
        f.final_ev.reason =
            "expired" + (f.last_error.empty() ? std::string{} : "; last error: " + f.last_error);
        log::warn("request.failed", {{"request_id", f.req.request_id},
                                     {"tenant", f.req.tenant},
                                     {"attempt", f.attempt},
                                     {"reason", f.final_ev.reason}});
        co_return true;
      }
      if (f.attempt > f.claim.attempts) {
        // After a backoff wait: renew the lease; if another instance took the request over
        // meanwhile (a rebalance), it is theirs now.
        if (!co_await claim_again(m, f.req, f.claim_req)) co_return false;
      }
      // While PostgreSQL is away an outcome cannot be recorded: a crash then would resend
      // everything sent meanwhile. Hold new attempts until it is back; this keeps the crash
      // window to one group commit. Likewise while this instance's heartbeat is stale: its
      // claims may be taken over (store::leases_safe), so it must not send what it holds.
      while (!db.healthy() || !db.leases_safe())
        if (!co_await sleep(std::chrono::milliseconds{200})) {
          release(f.req);
          co_return false;
        }
      ++f.attempt;
      if (co_await try_once(f)) co_return true;
    }
  }

  // One attempt: true when it decided the request (final_ev), false when it is deferred
  // (wait_for set, the recipients still to deliver in env).
  awaitable<bool> try_once(flight& f) {
    smtp::dot_gate sending;
    if (cfg.confirm_before_dot) sending = sending_gate(event(f, status::sending, f.attempt));
    const smtp::verdict v = smtp::judge(co_await smtp.send(
        f.env, f.message, f.req.tenant, cfg.confirm_before_dot ? &sending : nullptr));
    suppress_hard_bounces(f.req, v);
    const smtp::outcome& out = v.decided;
    stats.smtp_no_reply_streak = out.last.code == 0 ? stats.smtp_no_reply_streak + 1 : 0;
    std::chrono::milliseconds delay{0};
    if (!v.retry.empty())
      delay = core::backoff_delay(cfg.backoff, f.attempt,
                                  std::uniform_real_distribution<double>(0, 1)(rng));
    const auto next = core::clock::now() + delay;
    attempt_limits limits; // (no braced list in a coroutine: see the top of this file)
    limits.attempt = f.attempt;
    limits.max_attempts = cfg.backoff.max_attempts;
    limits.next_too_late = next >= f.deadline;
    decision d = after_attempt(v, f.settled, limits);
    nlohmann::json fields{{"request_id", f.req.request_id},
                          {"tenant", f.req.tenant},
                          {"attempt", f.attempt},
                          {"smtp.code", out.last.code},
                          {"smtp.enhanced", out.last.enhanced}};
    if (!out.error.empty()) fields["error"] = out.error;
    if (!f.settled.undelivered.empty()) fields["recipients_refused"] = f.settled.undelivered;
    if (d.step == next_step::retry) {
      f.last_reply = d.reply;
      f.last_error = d.reason;
      auto ev = event(f, status::deferred, f.attempt);
      ev.smtp = std::move(d.reply);
      ev.reason = std::move(d.reason);
      ev.next_attempt_at = next;
      fields["delay_ms"] = delay.count();
      log::info("request.deferred", std::move(fields));
      count(status::deferred);
      // This request will be sent again (here after the backoff, or from a retry topic,
      // maybe elsewhere): the first deferral stores the message, so that every later attempt
      // sends the same bytes (Message-ID, Date, DKIM signature).
      note(std::move(ev), false, f.message_stored ? std::string() : f.message);
      f.message_stored = true;
      f.env.rcpt_to = std::move(d.retry_to);
      f.wait_for = next;
      co_return false;
    }
    f.final_ev = event(f, terminal_status(d.step), f.attempt);
    f.final_ev.smtp = std::move(d.reply);
    f.final_ev.reason = std::move(d.reason);
    if (d.step == next_step::sent)
      log::info("request.sent", std::move(fields));
    else
      log::warn(d.step == next_step::bounced ? "request.bounced" : "request.failed",
                std::move(fields));
    co_return true;
  }

  static status terminal_status(next_step s) {
    switch (s) {
    case next_step::sent:
      return status::sent;
    case next_step::bounced:
      return status::bounced;
    default:
      return status::failed;
    }
  }

  // Settle: the outcome recorded and published (a failed one copied to the DLQ too), then
  // the record is finished and its offset may be committed.
  awaitable<void> settle_outcome(const kafka::message& m, flight& f) {
    if (!f.suppressed.empty() && f.final_ev.status == status::sent)
      f.final_ev.reason +=
          (f.final_ev.reason.empty() ? "" : "; ") + std::string("suppressed: ") + f.suppressed;
    bool durable = false;
    if (f.final_ev.status == status::failed) {
      auto [settled, copied] = co_await (settle(f.final_ev) && copy_to_dlq(m, f.final_ev));
      durable = settled && copied;
    } else {
      durable = co_await settle(f.final_ev);
    }
    if (durable) {
      count(f.final_ev.status);
      finished(m);
    }
  }
};

worker::worker(asio::any_io_executor ex, worker_config cfg, kafka::producer& producer,
               store::store& store, smtp::dispatcher& smtp, content::stage& stage,
               std::function<void(const kafka::message&)> finished, store::content_lookup* lookup,
               kafka::key_finder* status_finder, ai::client* ai_client,
               std::function<void(kafka::message&)> release_slot)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(cfg), producer, store, smtp,
                                   std::move(finished), status_finder, ai_client,
                                   std::move(release_slot), stage, lookup)) {}

worker::~worker() = default;

void worker::submit(kafka::message m) {
  impl_->active.fetch_add(1);
  asio::co_spawn(
      impl_->ex,
      [self = impl_, m = std::move(m)]() mutable -> awaitable<void> {
        co_await self->run(std::move(m));
      },
      [self = impl_](std::exception_ptr e) {
        self->active.fetch_sub(1);
        if (!e) return;
        // run() catches what handle() throws; only its own last steps could get here.
        ++self->stats.internal_errors;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log::error("worker.bug", {{"error", core::clean_text(ex.what(), 256)}});
        } catch (...) {
          log::error("worker.bug", {{"error", "unknown exception"}});
        }
      });
}

awaitable<void> worker::drain(std::chrono::milliseconds deadline) {
  auto& s = *impl_;
  s.stopping = true;
  for (auto* t : s.sleepers)
    t->cancel();
  auto until = std::chrono::steady_clock::now() + deadline;
  asio::steady_timer tick(s.ex);
  while (s.active.load() > 0 && std::chrono::steady_clock::now() < until) {
    tick.expires_after(std::chrono::milliseconds{20});
    co_await tick.async_wait(asio::use_awaitable);
  }
  if (s.active.load() > 0) log::warn("worker.drain_timeout", {{"still_active", s.active.load()}});
}

std::size_t worker::active() const {
  return impl_->active.load();
}
counters worker::stats() const {
  return impl_->stats;
}

} // namespace iaposte::worker
