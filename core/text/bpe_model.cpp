#include "core/text/bpe_model.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <queue>
#include <stdexcept>

#include "core/text/utf8.h"

namespace ps {
namespace {

std::vector<std::string> make_byte_to_unicode() {
    // Printable Latin-1 bytes stand for themselves; the others, in byte order, take the code
    // points from U+0100 on (GPT-2's bytes_to_unicode).
    std::vector<std::string> map(256);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        append_utf8(map[b], static_cast<char32_t>(printable ? b : next++));
    }
    return map;
}

uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

constexpr uint64_t kEmptyKey = ~0ULL;

}  // namespace

const std::vector<std::string>& byte_to_unicode() {
    static const std::vector<std::string> map = make_byte_to_unicode();
    return map;
}

int byte_from_unicode(char32_t cp) {
    if ((cp >= '!' && cp <= '~') || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return static_cast<int>(cp);
    if (cp < 256 || cp >= 256 + 68) return -1;
    // The n-th non-printable byte maps to 256 + n.
    int n = static_cast<int>(cp) - 256;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        if (!printable && n-- == 0) return b;
    }
    return -1;
}

BpeModel::BpeModel(std::unordered_map<std::string, int32_t> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
    size_t capacity = 16;
    while (capacity < merges.size() * 2 + 16) capacity <<= 1;
    merge_table_.assign(capacity, MergeEntry{kEmptyKey, 0, -1});
    merge_mask_ = capacity - 1;
    const size_t prefix_length = options_.continuing_subword_prefix.size();
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const auto& [a, b] = merges[rank];
        auto ia = vocab_.find(a), ib = vocab_.find(b);
        if (ia == vocab_.end() || ib == vocab_.end())
            throw std::invalid_argument("merge " + std::to_string(rank) + " ('" + a + "' '" + b + "') uses '" +
                                        (ia == vocab_.end() ? a : b) + "', which is not in the vocabulary");
        // With a continuing-subword prefix ("##"), the right part carries it and the merged
        // token does not repeat it.
        const std::string merged = a + (prefix_length && b.compare(0, prefix_length, options_.continuing_subword_prefix) == 0
                                            ? b.substr(prefix_length) : b);
        auto im = vocab_.find(merged);
        if (im == vocab_.end())
            throw std::invalid_argument("merge " + std::to_string(rank) + " ('" + a + "' '" + b + "') makes '" + merged +
                                        "', which is not in the vocabulary");
        const uint64_t key = pair_key(ia->second, ib->second);
        for (uint64_t slot = mix(key) & merge_mask_;; slot = (slot + 1) & merge_mask_) {
            if (merge_table_[slot].key == kEmptyKey) {
                merge_table_[slot] = MergeEntry{key, static_cast<uint32_t>(rank), im->second};
                break;
            }
            if (merge_table_[slot].key == key) break;  // a repeated merge keeps its first (best) rank
        }
    }
    const auto& bytes = byte_to_unicode();
    all_bytes_in_vocab_ = true;
    for (int b = 0; b < 256; ++b) {
        auto it = vocab_.find(bytes[b]);
        byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
        if (it == vocab_.end()) all_bytes_in_vocab_ = false;
    }
    cache_slots_.resize(1024);
}

const BpeModel::MergeEntry* BpeModel::find_merge(int32_t left, int32_t right) const {
    const uint64_t key = pair_key(left, right);
    for (uint64_t slot = mix(key) & merge_mask_;; slot = (slot + 1) & merge_mask_) {
        const MergeEntry& e = merge_table_[slot];
        if (e.key == key) return &e;
        if (e.key == kEmptyKey) return nullptr;
    }
}

void BpeModel::initial_symbols(std::string_view word, std::vector<int32_t>& ids, std::vector<uint32_t>& lengths) const {
    ids.clear();
    lengths.clear();
    const bool plain = options_.continuing_subword_prefix.empty() && options_.end_of_word_suffix.empty();
    if (options_.byte_level && all_bytes_in_vocab_ && plain) {
        for (unsigned char c : word) {
            ids.push_back(byte_ids_[c]);
            lengths.push_back(1);
        }
        return;
    }
    // General case: one symbol per character (of the byte-level string for byte-level models),
    // unknown characters through byte fallback or the unk token.
    std::string text;
    if (options_.byte_level) {
        const auto& map = byte_to_unicode();
        for (unsigned char c : word) text += map[c];
        word = text;
    }
    std::optional<std::pair<int32_t, uint32_t>> unk;  // pending unk id and byte length
    std::string symbol;
    for (size_t i = 0; i < word.size();) {
        const size_t n = std::min(utf8_length(static_cast<unsigned char>(word[i])), word.size() - i);
        const bool first = i == 0, last = i + n == word.size();
        symbol.assign(word.data() + i, n);
        if (!first) symbol.insert(0, options_.continuing_subword_prefix);
        if (last) symbol += options_.end_of_word_suffix;
        i += n;
        auto it = vocab_.find(symbol);
        if (it != vocab_.end()) {
            if (unk) {
                ids.push_back(unk->first);
                lengths.push_back(unk->second);
                unk.reset();
            }
            ids.push_back(it->second);
            lengths.push_back(static_cast<uint32_t>(n));
            continue;
        }
        if (options_.byte_fallback) {
            std::vector<int32_t> byte_tokens;
            char name[8];
            for (unsigned char c : symbol) {
                std::snprintf(name, sizeof name, "<0x%02X>", c);
                auto b = vocab_.find(name);
                if (b == vocab_.end()) break;
                byte_tokens.push_back(b->second);
            }
            if (byte_tokens.size() == symbol.size()) {
                // Hugging Face flushes no pending unk here; byte tokens simply follow.
                for (int32_t id : byte_tokens) {
                    ids.push_back(id);
                    lengths.push_back(1);
                }
                continue;
            }
        }
        if (options_.unk_id) {
            if (unk && options_.fuse_unk) {
                unk->second += static_cast<uint32_t>(n);
            } else {
                if (unk) {
                    ids.push_back(unk->first);
                    lengths.push_back(unk->second);
                }
                unk = std::make_pair(*options_.unk_id, static_cast<uint32_t>(n));
            }
        }
        // Without an unk token Hugging Face drops the character; so do we.
    }
    if (unk) {
        ids.push_back(unk->first);
        lengths.push_back(unk->second);
    }
}

void BpeModel::merge_word(std::vector<int32_t>& ids, std::vector<uint32_t>& lengths) const {
    const int32_t n = static_cast<int32_t>(ids.size());
    if (n < 2) return;
    struct Symbol {
        int32_t id, prev, next;
        uint32_t length;  // 0 = merged into its left neighbour
    };
    struct Candidate {
        uint32_t rank;
        int32_t pos, new_id;
    };
    // Lowest rank first, then leftmost position: the order of the tokenizers library.
    const auto later = [](const Candidate& a, const Candidate& b) {
        return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
    };
    thread_local std::vector<Symbol> symbols;
    thread_local std::vector<Candidate> heap;
    symbols.resize(n);
    heap.clear();
    for (int32_t i = 0; i < n; ++i) symbols[i] = Symbol{ids[i], i - 1, i + 1 < n ? i + 1 : -1, lengths[i]};
    for (int32_t i = 0; i + 1 < n; ++i)
        if (const MergeEntry* m = find_merge(ids[i], ids[i + 1])) heap.push_back(Candidate{m->rank, i, m->new_id});
    std::make_heap(heap.begin(), heap.end(), later);
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), later);
        const Candidate top = heap.back();
        heap.pop_back();
        Symbol& left = symbols[top.pos];
        if (left.length == 0 || left.next < 0) continue;
        const int32_t right_pos = left.next;
        const Symbol right = symbols[right_pos];
        // Skip entries made stale by earlier merges.
        const MergeEntry* current = find_merge(left.id, right.id);
        if (!current || current->new_id != top.new_id) continue;
        left.id = top.new_id;
        left.length += right.length;
        left.next = right.next;
        symbols[right_pos].length = 0;
        if (right.next >= 0) symbols[right.next].prev = top.pos;
        if (left.prev >= 0)
            if (const MergeEntry* m = find_merge(symbols[left.prev].id, left.id)) {
                heap.push_back(Candidate{m->rank, left.prev, m->new_id});
                std::push_heap(heap.begin(), heap.end(), later);
            }
        if (left.next >= 0)
            if (const MergeEntry* m = find_merge(left.id, symbols[left.next].id)) {
                heap.push_back(Candidate{m->rank, top.pos, m->new_id});
                std::push_heap(heap.begin(), heap.end(), later);
            }
    }
    ids.clear();
    lengths.clear();
    for (const Symbol& s : symbols)
        if (s.length != 0) {
            ids.push_back(s.id);
            lengths.push_back(s.length);
        }
}

void BpeModel::tokenize_uncached(std::string_view word, std::vector<int32_t>& out) const {
    if (options_.ignore_merges) {
        std::string mapped;
        if (options_.byte_level) {
            const auto& map = byte_to_unicode();
            for (unsigned char c : word) mapped += map[c];
        } else {
            mapped.assign(word);
        }
        auto it = vocab_.find(mapped);
        if (it != vocab_.end()) {
            out.assign(1, it->second);
            return;
        }
    }
    thread_local std::vector<uint32_t> lengths;
    initial_symbols(word, out, lengths);
    merge_word(out, lengths);
}

void BpeModel::tokenize(std::string_view word, std::vector<int64_t>& out) const {
    if (word.empty()) return;
    const bool cacheable = word.size() <= kMaxCachedWord;
    const uint64_t hash = cacheable ? std::hash<std::string_view>()(word) : 0;
    if (cacheable && cache_find(word, hash, out)) return;
    thread_local std::vector<int32_t> ids;
    tokenize_uncached(word, ids);
    out.insert(out.end(), ids.begin(), ids.end());
    if (cacheable) cache_insert(word, hash, ids);
}

bool BpeModel::cache_find(std::string_view word, uint64_t hash, std::vector<int64_t>& out) const {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const size_t mask = cache_slots_.size() - 1;
    for (size_t slot = hash & mask;; slot = (slot + 1) & mask) {
        const CacheSlot& s = cache_slots_[slot];
        if (s.key_length == UINT32_MAX) return false;
        if (s.hash == hash && s.key_length == word.size() &&
            std::memcmp(cache_keys_.data() + s.key_offset, word.data(), word.size()) == 0) {
            const int32_t* ids = cache_ids_.data() + s.ids_offset;
            out.insert(out.end(), ids, ids + s.ids_length);
            return true;
        }
    }
}

void BpeModel::cache_insert(std::string_view word, uint64_t hash, const std::vector<int32_t>& ids) const {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_used_ >= kMaxCacheEntries) {
        cache_slots_.assign(1024, CacheSlot{});
        cache_keys_.clear();
        cache_ids_.clear();
        cache_used_ = 0;
    }
    if ((cache_used_ + 1) * 2 > cache_slots_.size()) {
        std::vector<CacheSlot> bigger(cache_slots_.size() * 2);
        const size_t mask = bigger.size() - 1;
        for (const CacheSlot& s : cache_slots_) {
            if (s.key_length == UINT32_MAX) continue;
            size_t slot = s.hash & mask;
            while (bigger[slot].key_length != UINT32_MAX) slot = (slot + 1) & mask;
            bigger[slot] = s;
        }
        cache_slots_.swap(bigger);
    }
    const size_t mask = cache_slots_.size() - 1;
    size_t slot = hash & mask;
    for (;; slot = (slot + 1) & mask) {
        const CacheSlot& s = cache_slots_[slot];
        if (s.key_length == UINT32_MAX) break;
        // Another thread may have inserted the same word meanwhile.
        if (s.hash == hash && s.key_length == word.size() &&
            std::memcmp(cache_keys_.data() + s.key_offset, word.data(), word.size()) == 0)
            return;
    }
    CacheSlot& s = cache_slots_[slot];
    s.hash = hash;
    s.key_offset = static_cast<uint32_t>(cache_keys_.size());
    s.key_length = static_cast<uint32_t>(word.size());
    s.ids_offset = static_cast<uint32_t>(cache_ids_.size());
    s.ids_length = static_cast<uint32_t>(ids.size());
    cache_keys_.append(word.data(), word.size());
    cache_ids_.insert(cache_ids_.end(), ids.begin(), ids.end());
    ++cache_used_;
}

}  // namespace ps
