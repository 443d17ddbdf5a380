// Local tone analyser: French and English word lists with negation, used when the model
// gives no sentiment.
#pragma once

#include <string_view>

#include "ai/client.hpp"

namespace iaposte::ai {

// Sums word polarities (+1/-1, strong words ±2; a negator among the three previous words
// flips the sign: "pas content", "not happy", "n'est pas bon"), then normalises as
// s / sqrt(s² + 15) into [-1, 1] (VADER's normalisation). Label: ≥ 0.2 positive,
// ≤ -0.2 negative, else neutral. Lowercases ASCII only; accented words are listed as
// written. Source "lexicon".
ai::sentiment analyse_tone(std::string_view text);

} // namespace iaposte::ai
