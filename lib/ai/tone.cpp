// The lexicon: small on purpose (commercial and service mail), easy to review and extend.
#include "ai/tone.hpp"

#include <cmath>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace iaposte::ai {
namespace {

const std::unordered_map<std::string_view, int>& lexicon() {
  static const std::unordered_map<std::string_view, int> words{
      // English, positive
      {"good", 1},
      {"great", 2},
      {"excellent", 2},
      {"happy", 1},
      {"glad", 1},
      {"pleased", 1},
      {"thank", 1},
      {"thanks", 1},
      {"welcome", 1},
      {"enjoy", 1},
      {"love", 2},
      {"wonderful", 2},
      {"delighted", 2},
      {"congratulations", 2},
      {"success", 1},
      {"best", 1},
      {"nice", 1},
      {"appreciate", 1},
      {"perfect", 2},
      {"exciting", 1},
      {"benefit", 1},
      {"free", 1},
      // English, negative
      {"bad", -1},
      {"terrible", -2},
      {"awful", -2},
      {"angry", -2},
      {"sorry", -1},
      {"unfortunately", -1},
      {"problem", -1},
      {"fail", -1},
      {"failed", -1},
      {"failure", -1},
      {"error", -1},
      {"late", -1},
      {"overdue", -1},
      {"unpaid", -1},
      {"debt", -1},
      {"penalty", -2},
      {"threat", -2},
      {"legal", -1},
      {"lawsuit", -2},
      {"unacceptable", -2},
      {"disappointed", -2},
      {"complaint", -1},
      {"cancel", -1},
      {"cancelled", -1},
      {"urgent", -1},
      {"final", -1},
      {"warning", -1},
      {"hate", -2},
      {"worst", -2},
      {"stupid", -2},
      {"annoying", -1},
      // French, positive
      {"bon", 1},
      {"bonne", 1},
      {"bien", 1},
      {"super", 2},
      {"excellente", 2},
      {"heureux", 1},
      {"heureuse", 1},
      {"ravi", 2},
      {"ravie", 2},
      {"merci", 1},
      {"bienvenue", 1},
      {"plaisir", 1},
      {"félicitations", 2},
      {"succès", 1},
      {"meilleur", 1},
      {"meilleure", 1},
      {"parfait", 2},
      {"parfaite", 2},
      {"génial", 2},
      {"formidable", 2},
      {"content", 1},
      {"contente", 1},
      {"satisfait", 1},
      {"satisfaite", 1},
      {"offert", 1},
      {"gratuit", 1},
      {"avantage", 1},
      {"remercions", 1},
      {"profitez", 1},
      // French, negative
      {"mauvais", -1},
      {"mauvaise", -1},
      {"horrible", -2},
      {"désolé", -1},
      {"désolée", -1},
      {"malheureusement", -1},
      {"problème", -1},
      {"échec", -1},
      {"erreur", -1},
      {"retard", -1},
      {"impayé", -1},
      {"impayée", -1},
      {"dette", -1},
      {"pénalité", -2},
      {"pénalités", -2},
      {"menace", -2},
      {"poursuites", -2},
      {"inacceptable", -2},
      {"déçu", -2},
      {"déçue", -2},
      {"plainte", -1},
      {"annulé", -1},
      {"annulée", -1},
      {"dernier", -1},
      {"avertissement", -1},
      {"mécontent", -2},
      {"mécontente", -2},
      {"furieux", -2},
      {"nul", -1},
      {"pire", -2},
      {"contentieux", -2},
      {"huissier", -2},
      {"relance", -1},
  };
  return words;
}

const std::unordered_set<std::string_view>& negators() {
  static const std::unordered_set<std::string_view> words{
      "not", "no", "never", "don't", "doesn't", "didn't", "isn't", "wasn't", "aren't", "won't",
      "cannot", "can't", "without", "nor",
      // "ne … pas": "pas" (or "n'" alone in "n'est pas") comes before the word it turns.
      "pas", "jamais", "aucun", "aucune", "sans", "ni", "n", "ne"};
  return words;
}

std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out.push_back(std::move(cur));
    cur.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      cur += static_cast<char>(c); // UTF-8 letters (é, è, ç...) stay inside the word
    } else if (std::isalnum(c)) {
      cur += static_cast<char>(std::tolower(c));
    } else if (c == '\'' && !cur.empty() && i + 1 < text.size() &&
               (cur == "don" || cur == "doesn" || cur == "didn" || cur == "isn" || cur == "wasn" ||
                cur == "aren" || cur == "won" || cur == "can")) {
      cur += '\''; // English contractions keep their apostrophe ("don't")
    } else {
      flush(); // French elisions split: "n'est" → "n", "est"
    }
  }
  flush();
  return out;
}

} // namespace

ai::sentiment analyse_tone(std::string_view text) {
  const auto words = words_of(text);
  double sum = 0;
  for (std::size_t i = 0; i < words.size(); ++i) {
    auto it = lexicon().find(words[i]);
    if (it == lexicon().end()) continue;
    int v = it->second;
    for (std::size_t back = 1; back <= 3 && back <= i; ++back)
      if (negators().count(words[i - back])) {
        v = -v;
        break;
      }
    sum += v;
  }
  ai::sentiment s;
  s.source = "lexicon";
  s.score = sum / std::sqrt(sum * sum + 15.0);
  s.label = s.score >= 0.2 ? "positive" : s.score <= -0.2 ? "negative" : "neutral";
  return s;
}

} // namespace iaposte::ai
